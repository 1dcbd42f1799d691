//! A metrics recorder that panics while the pool describes its metrics or
//! registers its handles (when a pool is built, a group first used): the
//! build must not panic (README: a recorder that panics loses that report
//! only), the pool must work, and only what the recorder refused is lost
//! (no-op handles stand in for it).
#![cfg(feature = "metrics")]

mod common;

use common::{assert_accounted, quiet_planned_panics};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use pool_runtime::{Group, GroupSpec, Kind, Pool, ScalePolicy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the recorder panics on.
#[derive(Clone, Copy, PartialEq)]
enum Refuses {
    Describing,
    Counters,
    Gauges,
    Histograms,
    /// Registers handles that panic whenever they are updated.
    Updating,
}

const ALL: [Refuses; 5] = [
    Refuses::Describing,
    Refuses::Counters,
    Refuses::Gauges,
    Refuses::Histograms,
    Refuses::Updating,
];

/// Panics on what it refuses; counts the increments of the counters it
/// did register (any name), from outside the pool.
struct Refusing {
    refuses: Refuses,
    counted: Arc<AtomicU64>,
}

struct Count(Arc<AtomicU64>);

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, _: u64) {}
}

/// A handle whose every update panics.
struct Hostile;

impl CounterFn for Hostile {
    fn increment(&self, _: u64) {
        panic!("planned: a counter update panics");
    }
    fn absolute(&self, _: u64) {
        panic!("planned: a counter update panics");
    }
}

impl GaugeFn for Hostile {
    fn increment(&self, _: f64) {
        panic!("planned: a gauge update panics");
    }
    fn decrement(&self, _: f64) {
        panic!("planned: a gauge update panics");
    }
    fn set(&self, _: f64) {
        panic!("planned: a gauge update panics");
    }
}

impl HistogramFn for Hostile {
    fn record(&self, _: f64) {
        panic!("planned: a histogram update panics");
    }
}

impl Refusing {
    fn refuse(&self, what: Refuses) {
        if self.refuses == what {
            panic!("planned: the recorder refuses");
        }
    }
}

impl Recorder for Refusing {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
        self.refuse(Refuses::Describing);
    }
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
        self.refuse(Refuses::Describing);
    }
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
        self.refuse(Refuses::Describing);
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        self.refuse(Refuses::Counters);
        match self.refuses {
            Refuses::Updating => Counter::from_arc(Arc::new(Hostile)),
            _ => Counter::from_arc(Arc::new(Count(self.counted.clone()))),
        }
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        self.refuse(Refuses::Gauges);
        match self.refuses {
            Refuses::Updating => Gauge::from_arc(Arc::new(Hostile)),
            _ => Gauge::noop(),
        }
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        self.refuse(Refuses::Histograms);
        match self.refuses {
            Refuses::Updating => Histogram::from_arc(Arc::new(Hostile)),
            _ => Histogram::noop(),
        }
    }
}

/// Two calls through `pool`: it admits, runs and counts them.
fn two_calls(pool: &Pool) {
    let before = pool.stats().completed;
    assert_eq!(pool.run(|| 1), Ok(1));
    assert_eq!(futures::executor::block_on(pool.submit(async { 2 })), Ok(2));
    let s = pool.stats();
    assert_eq!(
        (s.completed - before, s.running, s.waiting),
        (2, 0, 0),
        "{s:?}"
    );
    assert_accounted(&s);
}

#[test]
fn a_recorder_that_panics_while_a_pool_is_built_loses_only_what_it_refused() {
    quiet_planned_panics();
    for refuses in ALL {
        for adaptive in [false, true] {
            let counted = Arc::new(AtomicU64::new(0));
            let recorder = Refusing {
                refuses,
                counted: counted.clone(),
            };
            let built = std::panic::catch_unwind(|| {
                metrics::with_local_recorder(&recorder, || {
                    let builder = Pool::builder().name("refused");
                    let builder = match adaptive {
                        true => builder
                            .kind(Kind::Autoscale)
                            .scale_policy(ScalePolicy::Adaptive(Default::default()))
                            .min(1)
                            .max(4),
                        false => builder.size(2),
                    };
                    builder.build()
                })
            });
            let pool = built
                .expect("the recorder's panic came out of the build")
                .expect("the build failed");
            two_calls(&pool);
            // The counters it did register count the calls.
            let expected = match refuses {
                Refuses::Counters | Refuses::Updating => 0,
                _ => 2,
            };
            assert_eq!(counted.load(Ordering::SeqCst), expected);
        }
    }
}

static FIRST_USED: [Group; 5] = [
    Group::new(GroupSpec::new("metrics_recorder_refuses::describing").size(2)),
    Group::new(GroupSpec::new("metrics_recorder_refuses::counters").size(2)),
    Group::new(GroupSpec::new("metrics_recorder_refuses::gauges").size(2)),
    Group::new(GroupSpec::new("metrics_recorder_refuses::histograms").size(2)),
    Group::new(GroupSpec::new("metrics_recorder_refuses::updating").size(2)),
];

/// The first use of `group` (one sync call) under a recorder that refuses
/// `refuses`: the recorder's panic stays inside, and the call runs.
fn first_use_under(group: &Group, refuses: Refuses) {
    let recorder = Refusing {
        refuses,
        counted: Arc::new(AtomicU64::new(0)),
    };
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        metrics::with_local_recorder(&recorder, || group.run(|| 1))
    }));
    assert_eq!(
        first.expect("the recorder's panic came out of the group's first use"),
        Ok(1)
    );
}

#[test]
fn a_recorder_that_panics_at_a_groups_first_use_loses_only_what_it_refused() {
    quiet_planned_panics();
    for (group, refuses) in FIRST_USED.iter().zip(ALL) {
        first_use_under(group, refuses);
        two_calls(group.pool());
    }
}

#[cfg(feature = "redis")]
mod fleet {
    use super::*;
    use pool_runtime::fleet::OnUnreachable;

    /// A fleet whose URL does not parse, running calls under the local limit
    /// alone: its first use registers the fleet's metrics, and each call
    /// counts a local fallback.
    const fn fleet_spec(name: &'static str) -> GroupSpec {
        GroupSpec::new(name)
            .size(2)
            .fleet_limit(1)
            .fleet_url("redis://127.0.0.1:notaport")
            .fleet_unreachable(OnUnreachable::Local)
    }

    static FLEETS: [Group; 5] = [
        Group::new(fleet_spec("metrics_recorder_refuses::fleet_describing")),
        Group::new(fleet_spec("metrics_recorder_refuses::fleet_counters")),
        Group::new(fleet_spec("metrics_recorder_refuses::fleet_gauges")),
        Group::new(fleet_spec("metrics_recorder_refuses::fleet_histograms")),
        Group::new(fleet_spec("metrics_recorder_refuses::fleet_updating")),
    ];

    /// In the order of `ALL`: describing first, so that a fleet whose
    /// describing panicked is followed by others that describe again.
    #[test]
    fn a_recorder_that_panics_at_a_fleet_groups_first_use_loses_only_what_it_refused() {
        quiet_planned_panics();
        for (group, refuses) in FLEETS.iter().zip(ALL) {
            first_use_under(group, refuses);
            assert!(group.fleet().is_some(), "a fleet group");
            assert_eq!(group.fleet_stats().unwrap().local_fallbacks, 1);
            two_calls(group.pool());
        }
    }
}
