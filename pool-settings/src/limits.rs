//! Slot counts: their bound, their defaults, and how an autoscaled pool's
//! missing bound is completed — one rule for the builder, the attribute and
//! configuration.

/// The largest slot count (and waiting bound) a pool can have: 2^30 - 1, the
/// width of the admission word's fields.
pub const MAX_SLOTS: usize = (1 << 30) - 1;

/// The default size of a fixed pool, and the default `min` of an autoscaled one.
pub const DEFAULT_SIZE: usize = 3;

/// An autoscaled pool's default headroom: `max` defaults to `min + 5` (at
/// most [`MAX_SLOTS`]).
pub const DEFAULT_AUTOSCALE_HEADROOM: usize = 5;

/// The most samples an autoscale window may hold (see the runtime's
/// `AutoscaleTiming::MAX_WINDOW`, which is this value).
pub const MAX_AUTOSCALE_WINDOW: usize = 4096;

/// An autoscaled pool's `(min, max)` from what was given: `min` defaults to
/// [`DEFAULT_SIZE`], or `max` if that is smaller; `max` to `min` plus
/// [`DEFAULT_AUTOSCALE_HEADROOM`], at most [`MAX_SLOTS`]. Given both, both are kept as they are (a
/// `min` above `max` is the caller's error to report).
pub fn autoscale_bounds(min: Option<usize>, max: Option<usize>) -> (usize, usize) {
    match (min, max) {
        (Some(min), Some(max)) => (min, max),
        // At most `MAX_SLOTS`: a `min` of `MAX_SLOTS` is valid and so is its
        // default `max` (a `min` past it is the caller's error to report).
        (Some(min), None) if min <= MAX_SLOTS => {
            (min, (min + DEFAULT_AUTOSCALE_HEADROOM).min(MAX_SLOTS))
        }
        (Some(min), None) => (min, min.saturating_add(DEFAULT_AUTOSCALE_HEADROOM)),
        (None, Some(max)) => (DEFAULT_SIZE.min(max), max),
        (None, None) => (DEFAULT_SIZE, DEFAULT_SIZE + DEFAULT_AUTOSCALE_HEADROOM),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bound_is_completed_from_the_other() {
        assert_eq!(autoscale_bounds(None, None), (3, 8));
        assert_eq!(autoscale_bounds(Some(10), None), (10, 15));
        assert_eq!(
            autoscale_bounds(Some(MAX_SLOTS), None),
            (MAX_SLOTS, MAX_SLOTS),
            "a valid min's default max is valid"
        );
        assert_eq!(
            autoscale_bounds(None, Some(2)),
            (2, 2),
            "min follows a small max"
        );
        assert_eq!(autoscale_bounds(None, Some(40)), (3, 40));
        assert_eq!(
            autoscale_bounds(Some(5), Some(2)),
            (5, 2),
            "reported by the caller"
        );
        assert_eq!(autoscale_bounds(Some(usize::MAX), None).1, usize::MAX);
    }
}
