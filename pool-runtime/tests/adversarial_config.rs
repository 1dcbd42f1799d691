//! Hostile acceptance tests of application-wide configuration, round 2:
//! precedence across a kind change, all-or-nothing loads (the ceiling
//! included), odd and huge values, reloads racing a group's first use,
//! `pause`, `close` and `scale`, and the ceiling counted from outside across
//! async, sync and blocking calls.
#![cfg(feature = "config")]

mod common;
use common::{config_turn, vars};
use pool_runtime::config::{self, Origin};
use pool_runtime::{ceiling, register_group, Group, GroupSpec, Kind, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn at(line: usize, column: usize) -> Option<Origin> {
    Some(Origin::File {
        path: "adv.toml".into(),
        line,
        column,
    })
}

fn load_err(text: &str) -> config::ConfigError {
    config::load_str("adv.toml", text).expect_err("the configuration is invalid")
}

static FIXED: Group = Group::new(GroupSpec::new("adv::fixed").size(2));
static SCALED: Group = Group::new(
    GroupSpec::new("adv::scaled")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4),
);
static CAFE: Group = Group::new(GroupSpec::new("adv::café").size(2));
register_group!(FIXED);
register_group!(SCALED);
register_group!(CAFE);

/// Counts bodies running at once, from outside the library.
#[derive(Default)]
struct Meter {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Meter {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }
    fn exit(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[test]
fn file_defaults_bounds_apply_to_a_group_a_stronger_layer_makes_autoscaled() {
    let _serial = config_turn();
    // `[defaults]` min/max are for autoscaled groups: a group the group
    // table (or the environment) makes autoscaled is one, and takes them
    // (the group table says nothing about the bounds).
    config::load_str(
        "adv.toml",
        "[defaults]\nmin = 4\nmax = 6\n[groups.\"adv::fixed\"]\nkind = \"autoscale\"\n",
    )
    .unwrap();
    let s = FIXED.settings();
    assert_eq!(
        (s.kind, s.min, s.max),
        (Kind::Autoscale, Some(4), Some(6)),
        "file defaults beat the attribute's (absent) bounds"
    );
    config::load_str("adv.toml", "[defaults]\nmin = 4\nmax = 6\n").unwrap();
    config::load_env_from(vars(&[("POOLED_ADV__FIXED_KIND", "autoscale")])).unwrap();
    let s = FIXED.settings();
    assert_eq!((s.kind, s.min, s.max), (Kind::Autoscale, Some(4), Some(6)));
    config::load_env_from(vars(&[])).unwrap();

    // The other way round: `[defaults]` size applies to a group made fixed.
    config::load_str(
        "adv.toml",
        "[defaults]\nsize = 7\n[groups.\"adv::scaled\"]\nkind = \"fixed\"\n",
    )
    .unwrap();
    let s = SCALED.settings();
    assert_eq!((s.kind, s.size), (Kind::Fixed, Some(7)));
    // And the group table still beats the defaults.
    config::load_str(
        "adv.toml",
        "[defaults]\nsize = 7\n[groups.\"adv::scaled\"]\nkind = \"fixed\"\nsize = 3\n",
    )
    .unwrap();
    assert_eq!(SCALED.settings().size, Some(3));
    config::clear();
}

#[test]
fn environment_ceiling_beats_the_files_and_a_bad_load_keeps_the_ceiling() {
    let _serial = config_turn();
    config::load_str("adv.toml", "ceiling = 2\n").unwrap();
    assert_eq!(ceiling::limit(), Some(2));
    config::load_env_from(vars(&[("POOLED_CEILING", " 5 ")])).unwrap();
    assert_eq!(ceiling::limit(), Some(5), "the environment beats the file");
    config::load_env_from(vars(&[])).unwrap();
    assert_eq!(ceiling::limit(), Some(2), "back to the file's");

    // A load whose ceiling is fine but one group is not changes nothing,
    // the ceiling included.
    let e = load_err("ceiling = 9\n[groups.\"adv::fixed\"]\nsize = 0\n");
    assert_eq!(e.origin().cloned(), at(3, 8), "{e}");
    assert_eq!(ceiling::limit(), Some(2));
    let e = config::load_env_from(vars(&[
        ("POOLED_CEILING", "9"),
        ("POOLED_ADV__FIXED_SIZE", "x"),
    ]))
    .unwrap_err();
    assert!(e.to_string().contains("POOLED_ADV__FIXED_SIZE"), "{e}");
    assert_eq!(ceiling::limit(), Some(2));
    config::clear();
    assert_eq!(ceiling::limit(), None);
}

#[test]
fn huge_and_odd_values_are_errors_at_their_place_and_change_nothing() {
    let _serial = config_turn();
    let before = (FIXED.settings(), SCALED.settings());

    // Beyond u64 / i64: TOML's own error, still with a position.
    let e = load_err("[groups.\"adv::fixed\"]\nsize = 18446744073709551616\n");
    assert_eq!(
        e.origin()
            .map(|o| matches!(o, Origin::File { line: 2, .. })),
        Some(true),
        "{e}"
    );
    let e = load_err("[groups.\"adv::fixed\"]\nsize = 1073741824\n");
    assert_eq!(e.origin().cloned(), at(2, 8), "{e}");
    let e = config::load_env_from(vars(&[("POOLED_ADV__FIXED_SIZE", "18446744073709551616")]))
        .unwrap_err();
    assert!(e.to_string().contains("POOLED_ADV__FIXED_SIZE"), "{e}");
    let e = load_err("ceiling = 99999999999999999\n");
    assert_eq!(e.origin().cloned(), at(1, 11), "{e}");

    // Floats where whole numbers are expected.
    let e = load_err("[groups.\"adv::fixed\"]\nsize = 2.0\n");
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (at(2, 8), "`size`: expected an integer, found float")
    );
    let e = load_err("ceiling = 2.5\n");
    assert_eq!(e.origin().cloned(), at(1, 11), "{e}");
    let e = config::load_env_from(vars(&[("POOLED_ADV__FIXED_MAX_WAITING", "2.0")])).unwrap_err();
    assert!(
        e.to_string().contains("POOLED_ADV__FIXED_MAX_WAITING"),
        "{e}"
    );
    let e = config::load_env_from(vars(&[("POOLED_ADV__FIXED_SIZE", "")])).unwrap_err();
    assert!(e.to_string().contains("POOLED_ADV__FIXED_SIZE"), "{e}");

    // Durations: negative, overflowing, without a unit, a float.
    for bad in [
        "\"-1s\"",
        "\"1e309s\"",
        "\"99999999999999999999h\"",
        "\"5\"",
        "5",
        "\"1.5s\"",
    ] {
        let e = load_err(&format!(
            "[groups.\"adv::fixed\"]\nadmission_timeout = {bad}\n"
        ));
        assert_eq!(e.origin().cloned(), at(2, 21), "{bad}: {e}");
    }
    // A zero interval is the builder's error, at the value.
    let e = load_err("[groups.\"adv::scaled\"]\nautoscale_interval = \"0s\"\n");
    assert_eq!(e.origin().cloned(), at(2, 22), "{e}");

    // NaN and infinities are numbers to TOML and to `f64::from_str`, never
    // valid parameters.
    for bad in ["nan", "inf", "-inf"] {
        let e = load_err(&format!(
            "[groups.\"adv::scaled\"]\npolicy = \"adaptive\"\nadaptive_tolerance = {bad}\n"
        ));
        assert_eq!(e.origin().cloned(), at(3, 22), "{bad}: {e}");
    }
    for bad in ["NaN", "inf", "infinity", "-0.5"] {
        let e = config::load_env_from(vars(&[
            ("POOLED_ADV__SCALED_POLICY", "adaptive"),
            ("POOLED_ADV__SCALED_ADAPTIVE_SMOOTHING", bad),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("SMOOTHING"), "{bad}: {e}");
    }
    // A window count beyond u32 is refused, not wrapped into range.
    let e = load_err(
        "[groups.\"adv::scaled\"]\npolicy = \"adaptive\"\nadaptive_window_samples = 4294967297\n",
    );
    assert_eq!(e.origin().cloned(), at(3, 27), "{e}");
    assert_eq!(
        e.message(),
        "`adaptive_window_samples`: invalid value `4294967297`: expected 1 to 10000 calls",
        "names the value written, not a clamped one"
    );

    assert_eq!(
        (FIXED.settings(), SCALED.settings()),
        before,
        "nothing changed"
    );
}

#[test]
fn unicode_group_names_empty_tables_and_zero_timeouts() {
    let _serial = config_turn();
    // An empty file, empty tables: valid, and change nothing.
    for text in ["", "[defaults]\n", "[groups]\n", "[groups.\"adv::café\"]\n"] {
        let report = config::load_str("adv.toml", text).unwrap();
        assert!(report.changes.is_empty(), "{text:?}: {report}");
    }
    // A unicode name, in the file; columns count characters.
    config::load_str("adv.toml", "[groups.\"adv::café\"]\nsize = 5\n").unwrap();
    assert_eq!(CAFE.size(), 5);
    let e = load_err("[groups.\"adv::café\"] # ü\nmax_waiting = 1\nsize = \"é\"\n");
    assert_eq!(e.origin().cloned(), at(3, 8), "{e}");
    let e = load_err("[groups.\"adv::cafè\"]\nsize = 1\n");
    assert!(e.message().contains("did you mean `adv::café`"), "{e}");
    // ... and in the environment, mangled.
    assert_eq!(config::mangle("adv::café"), "ADV__CAF_");
    config::load_env_from(vars(&[("POOLED_ADV__CAF__SIZE", "3")])).unwrap();
    assert_eq!(CAFE.size(), 3);

    // "0s" admission timeout: a call that must wait is turned away at once,
    // one that finds a free slot runs.
    config::load_env_from(vars(&[("POOLED_ADV__CAF__ADMISSION_TIMEOUT", "0s")])).unwrap();
    config::load_str("adv.toml", "[groups.\"adv::café\"]\nsize = 1\n").unwrap();
    assert_eq!(CAFE.size(), 1);
    assert_eq!(CAFE.run(|| 1), Ok(1));
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        CAFE.run(|| {
            tx.send(()).unwrap();
            go_rx.recv().unwrap();
        })
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let start = std::time::Instant::now();
    assert_eq!(CAFE.run(|| 2), Err(Rejected::TimedOut));
    assert!(start.elapsed() < Duration::from_secs(1));
    go_tx.send(()).unwrap();
    holder.join().unwrap().unwrap();
    config::clear();
}

#[test]
fn a_reload_keeps_a_pause_a_close_and_a_scale_it_has_nothing_to_say_about() {
    let _serial = config_turn();
    static PAUSED: Group = Group::new(GroupSpec::new("adv::paused").size(2));
    static CLOSED: Group = Group::new(GroupSpec::new("adv::closed").size(2));
    register_group!(PAUSED);
    register_group!(CLOSED);
    PAUSED.pause();
    config::load_str(
        "adv.toml",
        "[groups.\"adv::paused\"]\nsize = 4\nmax_waiting = 2\n",
    )
    .unwrap();
    assert!(PAUSED.is_paused(), "a reload does not resume");
    assert_eq!(PAUSED.size(), 4);
    assert_eq!(PAUSED.run(|| ()), Err(Rejected::Paused));
    PAUSED.resume();
    assert_eq!(PAUSED.scale(-3), 1);
    // A reload that changes something else leaves the scale alone.
    config::load_str(
        "adv.toml",
        "[groups.\"adv::paused\"]\nsize = 4\nmax_waiting = 3\n",
    )
    .unwrap();
    assert_eq!(PAUSED.size(), 1);
    // Clearing the configuration changes the configured size (4 -> 2).
    config::clear();
    assert_eq!(PAUSED.size(), 2);

    assert_eq!(CLOSED.run(|| 1), Ok(1));
    CLOSED.pool().close();
    config::load_str("adv.toml", "[groups.\"adv::closed\"]\nsize = 5\n").unwrap();
    assert_eq!(
        CLOSED.run(|| 1),
        Err(Rejected::Closed),
        "a reload does not reopen"
    );
    config::clear();
}

#[test]
fn the_ceiling_holds_across_async_sync_and_blocking_calls_and_nested_ones() {
    let _serial = config_turn();
    static A: Group = Group::new(GroupSpec::new("adv::ceil_a").size(3));
    static B: Group = Group::new(GroupSpec::new("adv::ceil_b").size(3));
    static C: Group = Group::new(GroupSpec::new("adv::ceil_c").size(3));
    register_group!(A);
    register_group!(B);
    register_group!(C);
    config::load_env_from(vars(&[("POOLED_CEILING", "2")])).unwrap();
    let meter = Arc::new(Meter::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Sync callers on plain threads, into A (with a nested sync call into B).
    let sync_threads: Vec<_> = (0..6)
        .map(|_| {
            let meter = meter.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    A.run(|| {
                        meter.enter();
                        std::thread::sleep(Duration::from_micros(300));
                        assert_eq!(B.run(|| 7), Ok(7), "nested, under the parent's slot");
                        meter.exit();
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    let ok = runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..40 {
            let meter = meter.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    // Blocking jobs on C.
                    C.submit_blocking(0, move || {
                        meter.enter();
                        std::thread::sleep(Duration::from_micros(300));
                        meter.exit();
                    })
                    .await
                } else {
                    // Async calls into B, with a nested call into C.
                    B.submit(0, async move {
                        meter.enter();
                        tokio::time::sleep(Duration::from_micros(300)).await;
                        let nested = C.submit(0, async { 1 }).await;
                        meter.exit();
                        assert_eq!(nested, Ok(1));
                    })
                    .await
                }
            }));
        }
        let all = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(tasks))
            .await
            .expect("no deadlock");
        all.into_iter().filter(|r| matches!(r, Ok(Ok(())))).count()
    });
    for t in sync_threads {
        t.join().unwrap();
    }
    assert_eq!(ok, 40);
    assert!(
        meter.peak() <= 2,
        "peak {} above the ceiling of 2",
        meter.peak()
    );
    assert_eq!(meter.peak(), 2, "the ceiling was reached");
    assert_eq!(ceiling::stats().unwrap().running, 0);
    config::clear();
}

#[test]
fn lowering_the_ceiling_under_load_is_never_exceeded_counted_from_outside() {
    let _serial = config_turn();
    static D: Group = Group::new(GroupSpec::new("adv::ceil_d").size(8));
    register_group!(D);
    config::load_str("adv.toml", "ceiling = 6\n").unwrap();
    let meter = Arc::new(Meter::default());
    let limit = Arc::new(AtomicUsize::new(6));
    let violations = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..400)
            .map(|_| {
                let (meter, limit, violations) = (meter.clone(), limit.clone(), violations.clone());
                tokio::spawn(D.submit(0, async move {
                    meter.enter();
                    if meter.now.load(Ordering::SeqCst) > limit.load(Ordering::SeqCst) {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    meter.exit();
                }))
            })
            .collect();
        for ceiling in [2, 5, 1, 3] {
            tokio::time::sleep(Duration::from_millis(3)).await;
            let text = format!("ceiling = {ceiling}\n");
            if ceiling > limit.load(Ordering::SeqCst) {
                limit.store(ceiling, Ordering::SeqCst);
                config::load_str("adv.toml", &text).unwrap();
            } else {
                config::load_str("adv.toml", &text).unwrap();
                tokio::time::timeout(Duration::from_secs(5), async {
                    while ceiling::stats().unwrap().running > ceiling {
                        tokio::task::yield_now().await;
                    }
                })
                .await
                .expect("running calls drain below the new ceiling");
                limit.store(ceiling, Ordering::SeqCst);
            }
        }
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("no hang")
                .unwrap()
                .unwrap();
        }
    });
    assert_eq!(violations.load(Ordering::SeqCst), 0);
    config::clear();
}

/// Sixty-four groups, each first used while a load reconfigures it: the
/// load must reach every one (the size the configuration names is the size
/// of the running pool), whichever of the two wins the race.
macro_rules! racing_groups {
    ($($name:ident),* $(,)?) => {
        $(
            static $name: Group = Group::new(GroupSpec::new(concat!("adv::race::", stringify!($name))).size(1));
            register_group!($name);
        )*
        static RACING: &[&Group] = &[$(&$name),*];
    };
}

racing_groups!(
    R00, R01, R02, R03, R04, R05, R06, R07, R08, R09, R10, R11, R12, R13, R14, R15, R16, R17, R18,
    R19, R20, R21, R22, R23, R24, R25, R26, R27, R28, R29, R30, R31, R32, R33, R34, R35, R36, R37,
    R38, R39, R40, R41, R42, R43, R44, R45, R46, R47, R48, R49, R50, R51, R52, R53, R54, R55, R56,
    R57, R58, R59, R60, R61, R62, R63,
);

#[test]
fn a_load_racing_a_groups_first_use_is_never_lost() {
    let _serial = config_turn();
    for (round, pair) in RACING.chunks(2).enumerate() {
        let size = 2 + round % 5;
        let text: String = pair
            .iter()
            .map(|g| format!("[groups.\"{}\"]\nsize = {size}\n", g.name()))
            .collect();
        let start = Arc::new(std::sync::Barrier::new(pair.len() + 1));
        let users: Vec<_> = pair
            .iter()
            .map(|&g| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    g.size()
                })
            })
            .collect();
        start.wait();
        config::load_str("adv.toml", &text).unwrap();
        for u in users {
            u.join().unwrap();
        }
        for g in pair {
            assert_eq!(
                (g.size(), g.settings().size),
                (size, Some(size)),
                "{}: the load's size reached the running pool",
                g.name()
            );
        }
    }
    config::clear();
}

#[test]
fn a_defaults_policy_and_adaptive_parameters_skip_groups_they_do_not_fit() {
    let _serial = config_turn();
    // Every binary has fixed groups: `[defaults]` policy = "adaptive" is for
    // the autoscaled ones, and the adaptive parameters for the adaptive ones,
    // as its `min`/`max` are for autoscaled ones.
    config::load_str(
        "adv.toml",
        "[defaults]\npolicy = \"adaptive\"\nadaptive_tolerance = 2.5\n",
    )
    .unwrap();
    assert!(matches!(
        SCALED.settings().policy,
        pool_runtime::ScalePolicy::Adaptive(a) if a.tolerance == 2.5
    ));
    assert!(matches!(
        FIXED.settings().policy,
        pool_runtime::ScalePolicy::QueueDepth
    ));
    // Parameters alone adapt only groups that are adaptive already.
    config::load_str("adv.toml", "[defaults]\nadaptive_tolerance = 3\n").unwrap();
    assert!(matches!(
        SCALED.settings().policy,
        pool_runtime::ScalePolicy::QueueDepth
    ));
    // A group's own table is still held to the rule.
    let e = load_err("[groups.\"adv::fixed\"]\npolicy = \"adaptive\"\n");
    assert_eq!(e.origin().cloned(), at(2, 10), "{e}");
    let e = load_err("[groups.\"adv::scaled\"]\nadaptive_tolerance = 3\n");
    assert_eq!(e.origin().cloned(), at(2, 22), "{e}");
    config::clear();
}

// ---- a kind changed in two layers ---------------------------------------------------

static ROUND_TRIP: Group = Group::new(GroupSpec::new("adv::round_trip").size(4));
static ADAPTIVE_TRIP: Group = Group::new(
    GroupSpec::new("adv::adaptive_trip")
        .kind(Kind::Autoscale)
        .min(2)
        .max(12)
        .scale_policy(pool_runtime::ScalePolicy::Adaptive(
            pool_runtime::AdaptiveSettings::DEFAULT,
        )),
);
register_group!(ROUND_TRIP);
register_group!(ADAPTIVE_TRIP);

/// A group's table in the file `adv.toml`.
fn table(group: &str, body: &str) -> String {
    format!("[groups.\"{group}\"]\n{body}")
}

/// A kind that the file's table changes and the environment changes back
/// leaves the group with what was set for that kind below: the declared
/// fixed `size`, or the declared autoscale bounds and policy.
#[test]
fn a_kind_changed_in_the_file_and_changed_back_in_the_environment_keeps_the_declared_counts() {
    let _serial = config_turn();
    config::load_str(
        "adv.toml",
        &table("adv::round_trip", "kind = \"autoscale\"\n"),
    )
    .unwrap();
    let s = ROUND_TRIP.settings();
    assert_eq!(
        (s.kind, s.size, s.min, s.max),
        (Kind::Autoscale, None, None, None),
        "a fixed size is not where an autoscaled group starts"
    );
    config::load_env_from(vars(&[("POOLED_ADV__ROUND_TRIP_KIND", "fixed")])).unwrap();
    let s = ROUND_TRIP.settings();
    assert_eq!(
        (s.kind, s.size, s.min, s.max, s.starting_size()),
        (Kind::Fixed, Some(4), None, None, 4),
        "the declared size, not the default"
    );

    // The same with bounds in the file, as an autoscaled table has: they are
    // the autoscaled kind's, set aside when the environment makes the group
    // fixed again (the load was refused, blaming the file's `min`).
    config::load_env_from(vars(&[])).unwrap();
    config::load_str(
        "adv.toml",
        &table(
            "adv::round_trip",
            "kind = \"autoscale\"\nmin = 1\nmax = 9\n",
        ),
    )
    .unwrap();
    assert_eq!(ROUND_TRIP.settings().max, Some(9));
    config::load_env_from(vars(&[("POOLED_ADV__ROUND_TRIP_KIND", "fixed")]))
        .expect("the environment makes the autoscaled table's group fixed");
    let s = ROUND_TRIP.settings();
    assert_eq!(
        (s.kind, s.size, s.min, s.max, s.starting_size()),
        (Kind::Fixed, Some(4), None, None, 4),
        "the declared size; the table's bounds set aside"
    );
    // Bounds given to a group that is fixed where they are given are still
    // a mistake, named where it is made, even if a stronger layer makes the
    // group autoscaled: there they would be lost.
    let e =
        config::load_str("adv.toml", &table("adv::round_trip", "min = 1\nmax = 9\n")).unwrap_err();
    assert!(e.to_string().starts_with("adv.toml:"), "{e}");
    assert!(e.to_string().contains("is fixed"), "{e}");
    config::load_str(
        "adv.toml",
        &table("adv::round_trip", "kind = \"autoscale\"\n"),
    )
    .unwrap();

    // The other way round: the declared bounds and policy come back.
    config::load_str(
        "adv.toml",
        &table("adv::adaptive_trip", "kind = \"fixed\"\nsize = 5\n"),
    )
    .unwrap();
    assert_eq!(ADAPTIVE_TRIP.settings().starting_size(), 5);
    config::load_env_from(vars(&[("POOLED_ADV__ADAPTIVE_TRIP_KIND", "autoscale")])).unwrap();
    let s = ADAPTIVE_TRIP.settings();
    assert_eq!(
        (s.kind, s.size, s.min, s.max),
        (Kind::Autoscale, None, Some(2), Some(12)),
        "the declared bounds; the file's fixed size is not a start"
    );
    assert_eq!(
        s.policy,
        ADAPTIVE_TRIP.spec().settings().policy,
        "the declared policy"
    );
    // The environment's own counts still beat the declaration's.
    config::load_env_from(vars(&[
        ("POOLED_ADV__ADAPTIVE_TRIP_KIND", "autoscale"),
        ("POOLED_ADV__ADAPTIVE_TRIP_MIN", "3"),
    ]))
    .unwrap();
    let s = ADAPTIVE_TRIP.settings();
    assert_eq!((s.min, s.max, s.starting_size()), (Some(3), Some(12), 3));
    // And an error in them is still placed: a start outside the restored
    // bounds is the environment's.
    let e = config::load_env_from(vars(&[
        ("POOLED_ADV__ADAPTIVE_TRIP_KIND", "autoscale"),
        ("POOLED_ADV__ADAPTIVE_TRIP_SIZE", "13"),
    ]))
    .unwrap_err();
    assert_eq!(
        e.origin(),
        Some(&Origin::Env {
            var: "POOLED_ADV__ADAPTIVE_TRIP_SIZE".into()
        }),
        "{e}"
    );
    assert!(e.message().contains("outside"), "{e}");
    config::clear();
}

/// The layers between the declaration and the last kind change: `[defaults]`
/// still beat the declaration, and what a table set for the kind the group
/// no longer has does not leak into it (bounds on a group made fixed are
/// refused, as in one layer).
#[test]
fn a_kind_round_trip_keeps_the_defaults_precedence_and_leaks_nothing_from_between() {
    let _serial = config_turn();
    let fixed_again = vars(&[("POOLED_ADV__ROUND_TRIP_KIND", "fixed")]);
    config::load_env_from(fixed_again.clone()).unwrap();
    config::load_str(
        "adv.toml",
        &format!(
            "[defaults]\nsize = 6\n{}",
            table("adv::round_trip", "kind = \"autoscale\"\n")
        ),
    )
    .unwrap();
    assert_eq!(
        ROUND_TRIP.settings().size,
        Some(6),
        "[defaults] beat the declaration"
    );
    // A start the table gave the autoscaled group is not the fixed size.
    config::load_str(
        "adv.toml",
        &table("adv::round_trip", "kind = \"autoscale\"\nsize = 5\n"),
    )
    .unwrap();
    assert_eq!(ROUND_TRIP.settings().size, Some(4), "the declared size");
    // Bounds the table set with its autoscaled kind are that kind's: the
    // environment making the group fixed sets them aside (this load was
    // refused until the README's own example, a file with bounds, was
    // tried); bounds set where the group is fixed are refused where set.
    config::load_str(
        "adv.toml",
        &table(
            "adv::round_trip",
            "kind = \"autoscale\"\nmin = 1\nmax = 9\n",
        ),
    )
    .unwrap();
    let s = ROUND_TRIP.settings();
    assert_eq!(
        (s.kind, s.size, s.min, s.max),
        (Kind::Fixed, Some(4), None, None)
    );
    let e = load_err(&table("adv::round_trip", "size = 2\nmin = 1\n"));
    assert_eq!(e.origin().cloned(), at(3, 7), "{e}");
    assert!(e.message().contains("apply to autoscaled groups"), "{e}");
    assert_eq!(ROUND_TRIP.settings().size, Some(4));
    // The kind in force where bounds are given counts `[defaults]`' kind:
    // a bare table's bounds on a group the defaults make autoscaled are
    // legal (the environment's fixed kind then sets them aside) ...
    config::load_str(
        "adv.toml",
        &format!(
            "[defaults]\nkind = \"autoscale\"\n{}",
            table("adv::round_trip", "min = 2\nmax = 6\n")
        ),
    )
    .expect("bounds on a group [defaults] makes autoscaled");
    assert_eq!(
        ROUND_TRIP.settings().kind,
        Kind::Fixed,
        "the environment's kind"
    );
    config::load_env_from(vars(&[])).unwrap();
    let s = ROUND_TRIP.settings();
    assert_eq!((s.kind, s.min, s.max), (Kind::Autoscale, Some(2), Some(6)));
    // ... and refused, at the table, on one the defaults make fixed.
    let e = load_err(&format!(
        "[defaults]\nkind = \"fixed\"\n{}",
        table("adv::adaptive_trip", "min = 2\n")
    ));
    assert!(e.to_string().starts_with("adv.toml:"), "{e}");
    assert!(e.message().contains("apply to autoscaled groups"), "{e}");
    config::load_env_from(fixed_again.clone()).unwrap();
    // Three layers that each change the kind: the last one's counts for
    // its kind, over what the declaration set for it.
    config::load_str(
        "adv.toml",
        &format!(
            "[defaults]\nkind = \"autoscale\"\n{}",
            table("adv::round_trip", "kind = \"fixed\"\nsize = 8\n")
        ),
    )
    .unwrap();
    config::load_env_from(vars(&[("POOLED_ADV__ROUND_TRIP_KIND", "autoscale")])).unwrap();
    let s = ROUND_TRIP.settings();
    assert_eq!(
        (s.kind, s.size, s.bounds()),
        (Kind::Autoscale, None, (3, 8))
    );
    config::clear();
}

/// A running fixed group whose kind the file flips and the environment
/// flips back, reload after reload, while its calls run and wait: the kind
/// change waits for a restart, the settings in force stay the declared
/// fixed 4 throughout, the running pool is never resized by a round trip,
/// and a manual `scale` made between rounds survives the later ones
/// (counted from outside: as many bodies run at once as the size says).
#[test]
fn reloads_that_flip_a_running_groups_kind_and_back_keep_its_size_and_a_manual_scale() {
    let _serial = config_turn();
    static RUNNING: Group = Group::new(GroupSpec::new("adv::round_trip_running").size(4));
    register_group!(RUNNING);
    assert_eq!(RUNNING.run(|| ()), Ok(()), "started: fixed, 4 slots");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut size = 4;
    for round in 0..10 {
        let meter = Arc::new(Meter::default());
        let (go, wait) = tokio::sync::watch::channel(false);
        rt.block_on(async {
            let calls: Vec<_> = (0..8)
                .map(|_| {
                    let (meter, mut wait) = (meter.clone(), wait.clone());
                    tokio::spawn(RUNNING.submit(0, async move {
                        meter.enter();
                        let _ = wait.wait_for(|go| *go).await;
                        meter.exit();
                    }))
                })
                .collect();
            tokio::time::timeout(Duration::from_secs(5), async {
                while meter.now.load(Ordering::SeqCst) < size || RUNNING.stats().waiting < 8 - size
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await
            .expect("the size runs, the rest waits");
            // Flip and flip back while they run and wait.
            config::load_str(
                "adv.toml",
                &table("adv::round_trip_running", "kind = \"autoscale\"\n"),
            )
            .unwrap();
            let s = RUNNING.settings();
            assert_eq!(
                (s.kind, s.size, RUNNING.size()),
                (Kind::Fixed, Some(4), size),
                "round {round}: runs as it started until a restart"
            );
            let report =
                config::load_env_from(vars(&[("POOLED_ADV__ROUND_TRIP_RUNNING_KIND", "fixed")]))
                    .unwrap();
            // The report says what moves: the running pool's size does not
            // (it said "size 3 -> 4, applied": the autoscaled start to the
            // size the pool had all along).
            assert!(
                report.changes.iter().all(|c| c.setting != "size"),
                "round {round}: {report}"
            );
            let s = RUNNING.settings();
            assert_eq!(
                (s.kind, s.size, s.min, s.max, RUNNING.size()),
                (Kind::Fixed, Some(4), None, None, size),
                "round {round}: the declared size, and the pool not resized"
            );
            go.send(true).unwrap();
            for call in calls {
                call.await.unwrap().unwrap();
            }
        });
        assert_eq!(meter.peak(), size, "round {round}");
        config::load_env_from(vars(&[])).unwrap();
        if round == 4 {
            assert_eq!(RUNNING.scale(2), 6, "a manual scale");
            size = 6;
        }
    }
    config::clear();
    assert_eq!(
        RUNNING.size(),
        6,
        "the configured size never changed: the manual scale stands"
    );
}
