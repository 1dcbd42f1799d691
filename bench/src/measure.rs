//! Repetition and medians. On a noisy machine a case's variants (the pool and
//! its anchors) are measured interleaved, round by round, so a burst of noise
//! hits all of them rather than one; the median of the rounds is reported.

use crate::options::Options;
use std::time::Instant;

/// One thing a case measures: runs it once and returns its cost per call (ns,
/// or whatever unit the case reports).
pub struct Variant<'a> {
    name: String,
    run: Box<dyn FnMut() -> f64 + 'a>,
}

/// A named variant (the name is what `--variant` matches).
pub fn variant<'a>(name: impl Into<String>, run: impl FnMut() -> f64 + 'a) -> Variant<'a> {
    Variant {
        name: name.into(),
        run: Box::new(run),
    }
}

/// Runs every selected variant once to warm up (discarded), then
/// `options.runs` rounds of all of them, each round starting at a different
/// variant; returns the median of each variant, in order (NaN for variants
/// that `--variant` left out).
pub fn interleaved(options: &Options, mut variants: Vec<Variant<'_>>) -> Vec<f64> {
    let selected: Vec<bool> = variants
        .iter()
        .map(|v| options.wants_variant(&v.name))
        .collect();
    for (variant, _) in variants.iter_mut().zip(&selected).filter(|(_, &s)| s) {
        (variant.run)();
    }
    let n = variants.len();
    let mut samples = vec![Vec::with_capacity(options.runs); n];
    for round in 0..options.runs {
        for k in 0..n {
            let i = (round + k) % n;
            if selected[i] {
                samples[i].push((variants[i].run)());
            }
        }
    }
    samples
        .iter_mut()
        .map(|s| if s.is_empty() { f64::NAN } else { median(s) })
        .collect()
}

/// The median (mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "median of nothing");
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Nanoseconds per call of `calls` calls that took since `start`.
pub fn ns_per_call(start: Instant, calls: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / calls as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    fn options(args: &[&str]) -> Options {
        Options::from_args(args.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn every_variant_runs_warm_up_plus_runs_times() {
        let (mut a, mut b) = (0, 0);
        let medians = interleaved(
            &options(&["--runs", "5"]),
            vec![
                variant("a", || {
                    a += 1;
                    1.0
                }),
                variant("b", || {
                    b += 1;
                    2.0
                }),
            ],
        );
        assert_eq!((a, b), (6, 6));
        assert_eq!(medians, [1.0, 2.0]);
    }

    #[test]
    fn variants_left_out_do_not_run_and_report_nan() {
        let mut ran = false;
        let medians = interleaved(
            &options(&["--runs", "3", "--variant", "keep"]),
            vec![
                variant("keep-me", || 1.0),
                variant("other", || {
                    ran = true;
                    2.0
                }),
            ],
        );
        assert!(!ran);
        assert_eq!(medians[0], 1.0);
        assert!(medians[1].is_nan());
    }
}
