//! Hostile tests of the facade, round 17: the application-wide ceiling set
//! by the environment at the process's first `#[pooled]` call, while a
//! `metrics` recorder (user code the first read of the environment runs:
//! the ceiling's pool registers its handles) is slow, and another thread
//! makes its first `#[pooled]` call. Each runs in a process of its own (a
//! global recorder; a first use); a hang is a failure, not a hung suite.
#![cfg(all(feature = "metrics", feature = "config"))]

mod common;
use common::within;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// Bodies of `#[pooled]` calls running now, and the most ever at once.
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The ceiling's pool is registering its handles (the recorder runs).
static CEILING_REGISTERING: AtomicBool = AtomicBool::new(false);
/// The other thread's call has entered its body.
static OTHER_ENTERED: AtomicBool = AtomicBool::new(false);

fn body(entered: Option<&AtomicBool>) {
    let n = NOW.fetch_add(1, SeqCst) + 1;
    PEAK.fetch_max(n, SeqCst);
    if let Some(flag) = entered {
        flag.store(true, SeqCst);
    }
    std::thread::sleep(Duration::from_millis(300));
    NOW.fetch_sub(1, SeqCst);
}

/// The application's first pooled function.
#[pooled::pooled(size = 4)]
fn first() {
    body(None);
}

/// Another pooled function, of a group of its own, called from another
/// thread.
#[pooled::pooled(size = 4)]
fn other() {
    body(Some(&OTHER_ENTERED));
}

fn wait_for(flag: &AtomicBool, limit: Duration) -> bool {
    let start = Instant::now();
    while !flag.load(SeqCst) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A recorder that, when the ceiling's pool (`(ceiling)`) registers its
/// first handle, takes its time: it waits (at most 2 s) for a sign that
/// another call got in. No-op handles.
struct SlowRecorder;

impl SlowRecorder {
    fn registered(&self, key: &metrics::Key) {
        let ceiling = key
            .labels()
            .any(|l| l.key() == "pool" && l.value() == "(ceiling)");
        if ceiling && !CEILING_REGISTERING.swap(true, SeqCst) {
            wait_for(&OTHER_ENTERED, Duration::from_secs(2));
        }
    }
}

impl metrics::Recorder for SlowRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        self.registered(key);
        metrics::Counter::noop()
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.registered(key);
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.registered(key);
        metrics::Histogram::noop()
    }
}

/// Promise: no more than the ceiling runs at once, from the process's
/// first `#[pooled]` call (`POOLED_CEILING`). Attack: `POOLED_CEILING=1`;
/// the first call of `first` reads the environment, stores the layers and
/// sets the ceiling, whose pool registers its handles with a slow
/// recorder; meanwhile another thread's first call of `other` finds the
/// layers stored and starts. Catches: `other` running without a ceiling
/// slot (the ceiling not enabled yet, and nothing makes it wait for the
/// first read to finish), then `first` running beside it once the ceiling
/// is enabled: two `#[pooled]` bodies at once under a ceiling of 1.
#[test]
fn a_pooled_fn_first_called_while_the_ceiling_is_being_set_runs_under_it() {
    crate::common::in_own_process(
        "a_pooled_fn_first_called_while_the_ceiling_is_being_set_runs_under_it",
        &[("POOLED_CEILING", "1")],
        || {
            metrics::set_global_recorder(SlowRecorder).unwrap();
            let other = std::thread::spawn(|| {
                assert!(wait_for(&CEILING_REGISTERING, Duration::from_secs(10)));
                other();
            });
            within(Duration::from_secs(10), first);
            other.join().unwrap();
            assert_eq!(pooled::ceiling::limit(), Some(1));
            assert_eq!(
                PEAK.load(SeqCst),
                1,
                "two #[pooled] bodies ran at once under a ceiling of 1"
            );
        },
    );
}
