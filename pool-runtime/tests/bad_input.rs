//! Bad input is an error value, never a panic, an overflow, a leak or a
//! freeze: bounds on every size-like setting (one constant each, shared by
//! the builder, the configuration and the docs), saturating time arithmetic
//! wherever a duration is added, and validated adaptive parameters.

use futures::executor::block_on;
use pool_runtime::ManualClock;
use pool_runtime::{
    AdaptiveSettings, AutoscaleTiming, BuildError, Kind, Pool, PoolBuilder, ScalePolicy, MAX_SLOTS,
};
use std::sync::Arc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn autoscale() -> PoolBuilder {
    Pool::builder().kind(Kind::Autoscale).min(1).max(4)
}

/// A clock past zero, so that adding a huge duration to its time overflows.
fn clock_past_zero() -> ManualClock {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(1));
    clock
}

fn out_of_range(result: Result<Pool, BuildError>) -> (&'static str, String) {
    match result {
        Err(err @ BuildError::OutOfRange { setting, .. }) => (setting, err.to_string()),
        other => panic!("expected an out-of-range error, got {other:?}"),
    }
}

#[test]
fn an_autoscale_window_past_its_bound_is_a_build_error_naming_the_bound() {
    let (setting, message) = out_of_range(autoscale().autoscale_window(1 << 32).build());
    assert_eq!(setting, "autoscale_window");
    assert_eq!(
        message,
        "`autoscale_window` = 4294967296 is out of range: \
         expected 1 to 4096 samples (AutoscaleTiming::MAX_WINDOW)"
    );
    let max = AutoscaleTiming::MAX_WINDOW;
    assert!(autoscale().autoscale_window(max + 1).build().is_err());
    let pool = autoscale().autoscale_window(max).build().unwrap();
    assert_eq!(pool.run(|| 1), Ok(1));
}

#[test]
fn an_autoscale_interval_too_long_to_pass_builds_and_never_moves_the_limit() {
    let clock = clock_past_zero();
    let pool = autoscale()
        .autoscale_interval(Duration::MAX)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            pool.run(|| clock.advance(Duration::from_secs(3600))),
            Ok(())
        );
    }
    assert_eq!((pool.size(), pool.stats().running), (1, 0));
}

#[test]
fn set_autoscale_timing_checks_the_timing_as_the_builder_does_and_never_panics() {
    let clock = clock_past_zero();
    let pool = autoscale().clock(Arc::new(clock.clone())).build().unwrap();
    let never = AutoscaleTiming {
        interval: Duration::MAX,
        window: 20,
    };
    assert_eq!(
        pool.set_autoscale_timing(never),
        Ok(()),
        "a long interval means never"
    );
    assert_eq!(pool.run(|| clock.advance(Duration::from_secs(1))), Ok(()));
    for (timing, setting) in [
        (
            AutoscaleTiming {
                interval: Duration::from_secs(1),
                window: 1 << 32,
            },
            "autoscale_window",
        ),
        (
            AutoscaleTiming {
                interval: Duration::MAX,
                window: usize::MAX,
            },
            "autoscale_window",
        ),
    ] {
        let refused = pool.set_autoscale_timing(timing).unwrap_err();
        assert!(refused.to_string().contains(setting), "{refused}");
        assert_eq!(pool.run(|| clock.advance(Duration::from_secs(1))), Ok(()));
    }
    assert!(pool
        .set_autoscale_timing(AutoscaleTiming {
            interval: Duration::ZERO,
            window: 20,
        })
        .is_err());
    assert_eq!(pool.stats().running, 0);
}

#[test]
fn a_max_waiting_past_max_slots_is_a_build_error() {
    let (setting, message) = out_of_range(Pool::builder().max_waiting(MAX_SLOTS + 1).build());
    assert_eq!(setting, "max_waiting");
    assert_eq!(
        message,
        "`max_waiting` = 1073741824 is out of range: expected 0 to 1073741823 (MAX_SLOTS)"
    );
    assert!(Pool::builder().max_waiting(MAX_SLOTS).build().is_ok());
}

fn adaptive(settings: AdaptiveSettings) -> Result<Pool, BuildError> {
    autoscale()
        .scale_policy(ScalePolicy::Adaptive(settings))
        .build()
}

#[test]
fn nan_or_out_of_range_adaptive_parameters_are_build_errors() {
    let d = AdaptiveSettings::DEFAULT;
    let cases = [
        (
            AdaptiveSettings {
                tolerance: f64::NAN,
                ..d
            },
            "`AdaptiveSettings::tolerance` = NaN is out of range: \
             expected a finite number of at least 1",
        ),
        (
            AdaptiveSettings {
                tolerance: f64::INFINITY,
                ..d
            },
            "`AdaptiveSettings::tolerance` = inf is out of range: \
             expected a finite number of at least 1",
        ),
        (
            AdaptiveSettings {
                tolerance: 0.5,
                ..d
            },
            "`AdaptiveSettings::tolerance` = 0.5 is out of range: \
             expected a finite number of at least 1",
        ),
        (
            AdaptiveSettings {
                smoothing: 1.5,
                ..d
            },
            "`AdaptiveSettings::smoothing` = 1.5 is out of range: expected a number from 0 to 1",
        ),
        (
            AdaptiveSettings { backoff: -0.5, ..d },
            "`AdaptiveSettings::backoff` = -0.5 is out of range: expected a number from 0 to 1",
        ),
        (
            AdaptiveSettings {
                drop_tolerance: f64::NAN,
                ..d
            },
            "`AdaptiveSettings::drop_tolerance` = NaN is out of range: \
             expected a number from 0 to 1",
        ),
        (
            AdaptiveSettings {
                window_samples: 0,
                ..d
            },
            "`AdaptiveSettings::window_samples` = 0 is out of range: expected 1 to 10000 calls",
        ),
        (
            AdaptiveSettings {
                window_samples: u32::MAX,
                ..d
            },
            "`AdaptiveSettings::window_samples` = 4294967295 is out of range: \
             expected 1 to 10000 calls",
        ),
    ];
    for (settings, message) in cases {
        let (_, got) = out_of_range(adaptive(settings));
        assert_eq!(got, message);
    }
    assert!(adaptive(d).is_ok());
}

#[test]
fn an_adaptive_baseline_interval_too_long_to_pass_never_panics_a_caller_or_loses_a_slot() {
    let clock = clock_past_zero();
    let pool = autoscale()
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
            // Every call closes a window: the first starts the baseline probe,
            // the second ends it and schedules the next one.
            window_samples: 1,
            window_time: Duration::ZERO,
            baseline_interval: Duration::MAX,
            ..AdaptiveSettings::DEFAULT
        }))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    for _ in 0..20 {
        let out = block_on(pool.submit(async { clock.advance(MS) }));
        assert_eq!(out, Ok(()));
    }
    let stats = pool.stats();
    assert_eq!((stats.running, stats.completed), (0, 20));
    assert_eq!(pool.run(|| 1), Ok(1), "the slot is still there");
}

#[test]
fn the_bounds_the_readme_documents_are_the_bounds_in_the_code() {
    let readme = include_str!("../../README.md");
    let fraction = 0.0..=1.0;
    assert_eq!(
        [
            AdaptiveSettings::SMOOTHING,
            AdaptiveSettings::BACKOFF,
            AdaptiveSettings::DROP_TOLERANCE
        ],
        [fraction.clone(), fraction.clone(), fraction]
    );
    let samples = AdaptiveSettings::WINDOW_SAMPLES;
    for documented in [
        format!("`MAX_SLOTS` = {MAX_SLOTS}"),
        format!(
            "`AutoscaleTiming::MAX_WINDOW` = {} samples",
            AutoscaleTiming::MAX_WINDOW
        ),
        format!(
            "`AdaptiveSettings::WINDOW_SAMPLES` = {}..={} calls",
            samples.start(),
            samples.end()
        ),
        format!(
            "`TOLERANCE` at least {}",
            AdaptiveSettings::TOLERANCE.start()
        ),
        "`SMOOTHING`, `BACKOFF`, `DROP_TOLERANCE` within 0..=1".to_owned(),
    ] {
        let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(&documented),
            "README.md does not say {documented:?}"
        );
    }
    assert_eq!(*AdaptiveSettings::TOLERANCE.end(), f64::MAX, "finite");
}

#[cfg(feature = "config")]
mod config {
    use super::*;
    use pool_runtime::config::{self, Origin};
    use pool_runtime::{register_group, Group, GroupSpec};

    static QUEUED: Group = Group::new(
        GroupSpec::new("bad::queued")
            .kind(Kind::Autoscale)
            .min(1)
            .max(4),
    );
    register_group!(QUEUED);

    /// A hand-written spec the attribute would not let through.
    static SKEWED: Group = Group::new(
        GroupSpec::new("bad::skewed")
            .kind(Kind::Autoscale)
            .min(1)
            .max(4)
            .max_waiting(usize::MAX)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
                tolerance: f64::NAN,
                window_samples: 0,
                ..AdaptiveSettings::DEFAULT
            })),
    );
    register_group!(SKEWED);

    fn at(line: usize, column: usize) -> Option<Origin> {
        Some(Origin::File {
            path: "app.toml".into(),
            line,
            column,
        })
    }

    #[test]
    fn configured_bounds_and_adaptive_parameters_are_load_errors_naming_them() {
        let huge = (1usize << 30) - 1;
        for (text, var) in [
            (
                format!("autoscale_window = {huge}"),
                "POOLED_BAD__QUEUED_AUTOSCALE_WINDOW",
            ),
            (
                format!("autoscale_window = {}", 1u64 << 40),
                "POOLED_BAD__QUEUED_AUTOSCALE_WINDOW",
            ),
        ] {
            let file = format!("[groups.\"bad::queued\"]\n{text}\n");
            let e = config::load_str("app.toml", &file).unwrap_err();
            let value = text.rsplit(' ').next().unwrap();
            assert_eq!(
                (e.origin().cloned(), e.message().to_owned()),
                (
                    at(2, 20),
                    format!(
                        "group `bad::queued`: `autoscale_window` = {value} is out of range: \
                         expected 1 to 4096 samples (AutoscaleTiming::MAX_WINDOW)"
                    )
                )
            );
            let env = vec![(var.to_owned(), value.to_owned())];
            let e = config::load_env_from(env).unwrap_err();
            assert_eq!(e.origin().cloned(), Some(Origin::Env { var: var.into() }));
            assert!(e.message().contains("AutoscaleTiming::MAX_WINDOW"), "{e}");
        }
        config::load_str(
            "app.toml",
            "[groups.\"bad::queued\"]\nautoscale_window = 4096\n",
        )
        .unwrap();
        assert_eq!(QUEUED.settings().autoscale.window, 4096);

        let e = config::load_str(
            "app.toml",
            "[groups.\"bad::skewed\"]\npolicy = \"adaptive\"\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.origin().cloned(), e.message()),
            (
                at(2, 10),
                "group `bad::skewed`: \
                 `AdaptiveSettings::window_samples` = 0 is out of range: expected 1 to 10000 calls"
            )
        );
        config::clear();

        // Unconfigured, the hand-written spec is brought into range at first
        // use instead of failing there.
        assert_eq!(SKEWED.run(|| 5), Ok(5));
        assert_eq!(SKEWED.pool().max_waiting(), Some(MAX_SLOTS));
    }
}
