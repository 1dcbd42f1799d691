//! A group's isolated instance (feature `test-util`) and the adaptive
//! policy's gauges (feature `metrics`): `pooled.adaptive.floor` and
//! `pooled.adaptive.latency` hold one value per name, so they are the
//! group's shared pool's; an isolated instance, which reports its limit and
//! calls under the group's name, must not set them (a test's own instance
//! would otherwise overwrite the latency the shared pool reports).
//!
//! Its own process: it installs the global recorder.
#![cfg(all(feature = "test-util", feature = "metrics"))]

mod common;

use common::Level;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use pool_runtime::{AdaptiveSettings, Group, GroupSpec, Kind, ScalePolicy};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Keeps every gauge by `name{pool}`.
#[derive(Default)]
struct Gauges(Mutex<BTreeMap<String, Arc<Level>>>);

impl Recorder for Gauges {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let pool = key
            .labels()
            .find(|l| l.key() == "pool")
            .map_or("", |l| l.value());
        let name = format!("{}{{{pool}}}", key.name());
        let level = self.0.lock().unwrap().entry(name).or_default().clone();
        Gauge::from_arc(level)
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn gauges() -> &'static Gauges {
    static GAUGES: OnceLock<&'static Gauges> = OnceLock::new();
    GAUGES.get_or_init(|| {
        let gauges: &'static Gauges = Box::leak(Box::default());
        metrics::set_global_recorder(gauges).expect("the only recorder");
        gauges
    })
}

/// The gauge `name` of pool `pool`: NaN if nothing registered it.
fn gauge(name: &str, pool: &str) -> f64 {
    let key = format!("{name}{{{pool}}}");
    gauges()
        .0
        .lock()
        .unwrap()
        .get(&key)
        .map_or(f64::NAN, |level| *level.0.lock().unwrap())
}

static ADAPTIVE: Group = Group::new(
    GroupSpec::new("isolation_metrics::adaptive")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT)),
);

/// Runs calls of `each` one after another through `ADAPTIVE` for `total`
/// (long enough for the adaptive policy's windows of 10 calls and 100 ms
/// to close).
fn calls_of(each: Duration, total: Duration) {
    let started = Instant::now();
    while started.elapsed() < total {
        assert_eq!(ADAPTIVE.run(|| std::thread::sleep(each)), Ok(()));
    }
}

#[test]
fn an_isolated_adaptive_instance_leaves_the_groups_adaptive_gauges_to_its_shared_pool() {
    gauges();
    let name = ADAPTIVE.name();
    // The shared pool: fast calls, whose windows set the gauges.
    calls_of(Duration::from_millis(1), Duration::from_millis(400));
    let latency = gauge("pooled.adaptive.latency", name);
    let floor = gauge("pooled.adaptive.floor", name);
    assert!(
        latency > 0.0,
        "the shared pool's windows set the latency: {latency}"
    );
    assert!(floor > 0.0, "and the floor: {floor}");
    // A test's own instance: slow calls, whose windows close too (as the
    // shared pool's did), but must not reach the group's gauges.
    let mine = ADAPTIVE.isolate();
    calls_of(Duration::from_millis(20), Duration::from_millis(500));
    assert!(mine.pool().stats().completed > 10);
    assert_eq!(
        (
            gauge("pooled.adaptive.latency", name),
            gauge("pooled.adaptive.floor", name)
        ),
        (latency, floor),
        "the isolated instance's windows reached the group's gauges"
    );
    drop(mine);
    // Its limit and calls still count in the group's series while it lives
    // (README, "In code"), and leave with the guard.
    assert_eq!(gauge("pooled.limit", name), ADAPTIVE.size() as f64);
}
