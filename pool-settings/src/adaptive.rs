//! The adaptive policy's parameters: their names, what each takes, and their
//! ranges — checked by the runtime's `AdaptiveSettings::validate` and by the
//! attribute at compile time, with the same words.

use std::ops::RangeInclusive;

/// The range of `window_samples`: a window needs a call to measure, and one
/// of more than 10 000 calls would hold the limit still for longer than any
/// server stays the same.
pub const WINDOW_SAMPLES: RangeInclusive<u32> = 1..=10_000;
/// The range of `tolerance`: a finite number of at least 1 (below 1 the limit
/// would fall at the baseline latency itself).
pub const TOLERANCE: RangeInclusive<f64> = 1.0..=f64::MAX;
/// The range of `smoothing`, a fraction.
pub const SMOOTHING: RangeInclusive<f64> = 0.0..=1.0;
/// The range of `backoff`, a multiplier that does not grow the limit.
pub const BACKOFF: RangeInclusive<f64> = 0.0..=1.0;
/// The range of `drop_tolerance`, a rate.
pub const DROP_TOLERANCE: RangeInclusive<f64> = 0.0..=1.0;

/// What a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// A whole number of calls (`window_samples`).
    Calls,
    /// A duration literal.
    Duration,
    /// A number (a float or an integer).
    Number,
}

/// Every parameter, by its field name (the key is `adaptive_<name>` in the
/// attribute and in configuration).
pub const PARAMETERS: &[(&str, Takes)] = &[
    ("window_samples", Takes::Calls),
    ("window_time", Takes::Duration),
    ("tolerance", Takes::Number),
    ("smoothing", Takes::Number),
    ("baseline_interval", Takes::Duration),
    ("backoff", Takes::Number),
    ("drop_tolerance", Takes::Number),
];

/// The range of a number parameter, if `name` is one.
pub fn number_range(name: &str) -> Option<RangeInclusive<f64>> {
    match name {
        "tolerance" => Some(TOLERANCE),
        "smoothing" => Some(SMOOTHING),
        "backoff" => Some(BACKOFF),
        "drop_tolerance" => Some(DROP_TOLERANCE),
        _ => None,
    }
}

/// What a range accepts, in words.
pub fn expected(range: &RangeInclusive<f64>) -> String {
    if *range.end() == f64::MAX {
        format!("a finite number of at least {}", range.start())
    } else {
        format!("a number from {} to {}", range.start(), range.end())
    }
}

/// What `window_samples` accepts, in words.
pub fn expected_calls() -> String {
    format!(
        "{} to {} calls",
        WINDOW_SAMPLES.start(),
        WINDOW_SAMPLES.end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_parameter_has_a_range_and_words_for_it() {
        for (name, takes) in PARAMETERS {
            assert_eq!(
                number_range(name).is_some(),
                *takes == Takes::Number,
                "{name}"
            );
        }
        assert_eq!(expected(&TOLERANCE), "a finite number of at least 1");
        assert_eq!(expected(&SMOOTHING), "a number from 0 to 1");
        assert_eq!(expected_calls(), "1 to 10000 calls");
    }
}
