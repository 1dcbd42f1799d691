//! Hostile acceptance tests of the facade, round 16: a `metrics` recorder
//! that calls a `#[pooled]` function while the pool asks it for its
//! handles — the way an exporter that announces each new metric through a
//! pooled client does. Each runs in a process of its own (a global
//! recorder; a group's first use); a hang is a failure, not a hung suite.
#![cfg(all(feature = "metrics", feature = "config"))]

mod common;
use common::within;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// How many metrics the recorder announced.
static ANNOUNCED: AtomicUsize = AtomicUsize::new(0);
/// Whether the recorder announces (through `announce`) at registration.
static ANNOUNCING: AtomicBool = AtomicBool::new(true);
/// Whether it only reads the groups' settings instead (`pooled::groups()`).
static READS_SETTINGS: AtomicBool = AtomicBool::new(false);
/// Whether, at the next registration, it loads a configuration that sizes
/// `work`'s group to 5 (once).
static LOADS: AtomicBool = AtomicBool::new(false);

/// The exporter's pooled client: a sync function of a group of its own.
#[pooled::pooled(size = 1)]
fn announce() {
    ANNOUNCED.fetch_add(1, SeqCst);
}

/// The application's pooled function.
#[pooled::pooled(size = 2)]
fn work() -> u32 {
    7
}

/// A recorder that announces every metric it registers through
/// `announce` (a `#[pooled]` function), and hands out no-op handles.
struct AnnouncingRecorder;

impl AnnouncingRecorder {
    fn registered(&self) {
        thread_local! {
            static INSIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if LOADS.swap(false, SeqCst) {
            let toml = format!("[groups.\"{}\"]\nsize = 5\n", WORK_POOL.name());
            pooled::config::load_str("race.toml", &toml).expect("a valid load");
        }
        if ANNOUNCING.load(SeqCst) && !INSIDE.with(|i| i.replace(true)) {
            if READS_SETTINGS.load(SeqCst) {
                if !pooled::groups().is_empty() {
                    ANNOUNCED.fetch_add(1, SeqCst);
                }
            } else {
                announce();
            }
            INSIDE.with(|i| i.set(false));
        }
    }
}

impl metrics::Recorder for AnnouncingRecorder {
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
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        self.registered();
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.registered();
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.registered();
        metrics::Histogram::noop()
    }
}

/// Promise: nothing hangs, with feature `metrics` and any recorder (the
/// README: handles "registered once per pool"). Attack: a recorder that
/// announces each metric it registers through a `#[pooled]` function of a
/// group not started yet; the application's first call of its own
/// `#[pooled]` function starts that function's group, which registers its
/// handles. Catches: the handles registered while the group's first use
/// holds the configuration lock (`Group::start` builds the pool inside
/// `config::with_effective`), so that the recorder's call — a first use of
/// another group, which takes that lock — deadlocks the process's first
/// pooled call.
#[test]
fn a_recorder_announcing_through_a_pooled_fn_does_not_deadlock_a_groups_first_use() {
    crate::common::in_own_process(
        "a_recorder_announcing_through_a_pooled_fn_does_not_deadlock_a_groups_first_use",
        &[],
        || {
            metrics::set_global_recorder(AnnouncingRecorder).unwrap();
            assert_eq!(within(Duration::from_secs(10), work), 7);
            assert!(ANNOUNCED.load(SeqCst) >= 1, "the recorder announced");
        },
    );
}

/// Promise: the README's "reading settings (`Group::settings()`,
/// `pooled::groups()`) can race a reload or a group's first use without
/// deadlock" and "its reports to `tracing` and `metrics` may read
/// settings". Attack: a recorder that reads `pooled::groups()` when the
/// pool registers a metric (to label it with its group's settings).
/// Catches: the handles registered under the configuration lock at the
/// group's first use, which `groups()` takes again (for the groups not
/// started yet).
#[test]
fn a_recorder_reading_settings_at_registration_does_not_deadlock_a_groups_first_use() {
    crate::common::in_own_process(
        "a_recorder_reading_settings_at_registration_does_not_deadlock_a_groups_first_use",
        &[],
        || {
            READS_SETTINGS.store(true, SeqCst);
            metrics::set_global_recorder(AnnouncingRecorder).unwrap();
            assert_eq!(within(Duration::from_secs(10), work), 7);
            assert!(
                ANNOUNCED.load(SeqCst) >= 1,
                "the recorder read the settings"
            );
        },
    );
}

/// The control: the same recorder, with the announcing group started
/// before the application's first call (its first use done outside the
/// other's), returns — the hang above is the lock held across the pool's
/// construction, not the recorder's call as such.
#[test]
fn a_recorder_announcing_through_a_started_pooled_fn_returns() {
    crate::common::in_own_process(
        "a_recorder_announcing_through_a_started_pooled_fn_returns",
        &[],
        || {
            ANNOUNCING.store(false, SeqCst);
            metrics::set_global_recorder(AnnouncingRecorder).unwrap();
            within(Duration::from_secs(10), announce);
            ANNOUNCING.store(true, SeqCst);
            let before = ANNOUNCED.load(SeqCst);
            assert_eq!(within(Duration::from_secs(10), work), 7);
            assert!(ANNOUNCED.load(SeqCst) > before, "the recorder announced");
        },
    );
}

/// Promise: a load applies to every group, started or not (`config` docs:
/// a running pool is reconfigured, one not started starts with the new
/// layers). Attack: the load lands while a group's first use is building
/// its pool — after it read its settings, before it published the pool —
/// here from the recorder the new pool registers its handles with (a
/// thread could do the same at that moment). The load finds the group not
/// started, so it moves nothing; the pool built from the old settings is
/// then published. Catches: the group left at its old size for good.
#[test]
fn a_load_that_lands_while_a_groups_first_use_builds_its_pool_moves_that_pool() {
    crate::common::in_own_process(
        "a_load_that_lands_while_a_groups_first_use_builds_its_pool_moves_that_pool",
        &[],
        || {
            ANNOUNCING.store(false, SeqCst);
            LOADS.store(true, SeqCst);
            metrics::set_global_recorder(AnnouncingRecorder).unwrap();
            assert_eq!(within(Duration::from_secs(10), work), 7);
            assert!(!LOADS.load(SeqCst), "the recorder loaded");
            assert_eq!(WORK_POOL.size(), 5, "the pool follows the load");
            assert_eq!(WORK_POOL.settings().size, Some(5));
        },
    );
}
