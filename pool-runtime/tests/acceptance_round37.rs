//! Acceptance round 37: configuration (README "Configuration" and the docs
//! of `pool_runtime::config`), from the outside: every value checked
//! wherever it is written, precedence, reports, reloads of running pools
//! counted from outside, the ceiling, `watch`, and odd values.
#![cfg(feature = "config")]

mod common;
use common::{config_turn, vars, within, Meter};
use pool_runtime::config::{self, Effect, Origin};
use pool_runtime::{register_group, Group, GroupSpec, Kind, Order, Rejected, MAX_SLOTS};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

/// The error of loading `text` as `r37.toml`, which must be refused and
/// change nothing (the ceiling, a marker of "nothing", stays unset).
#[track_caller]
fn refused(text: &str) -> config::ConfigError {
    let out = std::panic::catch_unwind(|| config::load_str("r37.toml", text));
    match out {
        Err(_) => panic!("loading panicked:\n{text}"),
        Ok(Ok(report)) => panic!("accepted:\n{text}\nreport: {report}"),
        Ok(Err(err)) => err,
    }
}

fn file_at(line: usize, column: usize) -> Origin {
    Origin::File {
        path: "r37.toml".into(),
        line,
        column,
    }
}

// ---------------------------------------------------------------------
// "Every value, wherever it is written (...), is checked against the
// builder's own bounds": a value a stronger layer replaces is still
// written, and still checked.
// ---------------------------------------------------------------------

static MASK_FIXED: Group = Group::new(GroupSpec::new("r37::mask_fixed").size(2));
register_group!(MASK_FIXED);
static MASK_AUTO: Group = Group::new(
    GroupSpec::new("r37::mask_auto")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4),
);
register_group!(MASK_AUTO);

/// Loads the environment `env`, then `text`, expecting the file refused at
/// `line:column` with a message containing `words`, and nothing changed.
#[track_caller]
fn masked_value_refused(env: &[(&str, &str)], text: &str, at: (usize, usize), words: &[&str]) {
    config::load_env_from(vars(env)).expect("the variables alone are valid");
    let before = (MASK_FIXED.settings(), MASK_AUTO.settings());
    let err = refused(text);
    assert_eq!(err.origin(), Some(&file_at(at.0, at.1)), "{err}");
    for word in words {
        assert!(err.message().contains(word), "`{word}` missing: {err}");
    }
    assert_eq!(
        (MASK_FIXED.settings(), MASK_AUTO.settings()),
        before,
        "all or nothing"
    );
    config::clear();
}

/// README: "Every value, wherever it is written (...), is checked against
/// the builder's own bounds": a fixed group's `size = 0` in its table is
/// refused even though its variable gives the size in force.
#[test]
fn a_tables_zero_size_replaced_by_a_variable_is_still_refused() {
    let _turn = config_turn();
    masked_value_refused(
        &[("POOLED_R37__MASK_FIXED_SIZE", "3")],
        "[groups.\"r37::mask_fixed\"]\nsize = 0\n",
        (2, 8),
        &["size"],
    );
}

/// The same for `autoscale_window = 0` (the builder's `ZeroWindow`).
#[test]
fn a_tables_zero_autoscale_window_replaced_by_a_variable_is_still_refused() {
    let _turn = config_turn();
    masked_value_refused(
        &[("POOLED_R37__MASK_AUTO_AUTOSCALE_WINDOW", "5")],
        "[groups.\"r37::mask_auto\"]\nautoscale_window = 0\n",
        (2, 20),
        &["window"],
    );
}

/// The same for `autoscale_interval = "0s"` (the builder's `ZeroInterval`).
#[test]
fn a_tables_zero_autoscale_interval_replaced_by_a_variable_is_still_refused() {
    let _turn = config_turn();
    masked_value_refused(
        &[("POOLED_R37__MASK_AUTO_AUTOSCALE_INTERVAL", "1s")],
        "[groups.\"r37::mask_auto\"]\nautoscale_interval = \"0s\"\n",
        (2, 22),
        &["interval"],
    );
}

/// README: "a count past `MAX_SLOTS` is refused as the parser reads it":
/// an autoscale window past `MAX_SLOTS`, replaced by a variable, is refused
/// all the same.
#[test]
fn a_tables_window_past_max_slots_replaced_by_a_variable_is_still_refused() {
    let _turn = config_turn();
    masked_value_refused(
        &[("POOLED_R37__MASK_AUTO_AUTOSCALE_WINDOW", "5")],
        &format!(
            "[groups.\"r37::mask_auto\"]\nautoscale_window = {}\n",
            MAX_SLOTS + 1
        ),
        (2, 20),
        &[],
    );
}

/// The docs of `config` ("Precedence"): counts a stronger layer's kind
/// change sets aside are "not an error (if each is valid on its own: a `max`
/// of 0 (...) is refused wherever it is written, as every value is
/// checked)": a table's fixed `size = 0` is not valid on its own, and the
/// environment making the group autoscaled again does not make it so.
#[test]
fn a_tables_zero_fixed_size_set_aside_by_a_variables_kind_is_still_refused() {
    let _turn = config_turn();
    masked_value_refused(
        &[("POOLED_R37__MASK_AUTO_KIND", "autoscale")],
        "[groups.\"r37::mask_auto\"]\nkind = \"fixed\"\nsize = 0\n",
        (3, 8),
        &["size"],
    );
}

/// A start outside the same table's bounds is an error at it ("A `size` a
/// file or variable gives outside the bounds is an error at it"), even when
/// a variable gives the start in force.
#[test]
fn a_tables_start_outside_its_own_bounds_replaced_by_a_variable_is_still_refused() {
    let _turn = config_turn();
    masked_value_refused(
        &[("POOLED_R37__MASK_AUTO_SIZE", "2")],
        "[groups.\"r37::mask_auto\"]\nmin = 1\nmax = 4\nsize = 9\n",
        (4, 8),
        &["size"],
    );
}

/// The same for a fleet limit past `MAX_SLOTS` ("a count past `MAX_SLOTS`
/// is refused as the parser reads it"), replaced by a variable.
#[cfg(feature = "redis")]
#[test]
fn a_tables_fleet_limit_past_max_slots_replaced_by_a_variable_is_still_refused() {
    let _turn = config_turn();
    masked_value_refused(
        &[
            ("POOLED_R37__MASK_FIXED_FLEET_LIMIT", "2"),
            ("POOLED_R37__MASK_FIXED_FLEET_URL", "redis://127.0.0.1:1"),
        ],
        &format!(
            "[groups.\"r37::mask_fixed\"]\nfleet_limit = {}\n",
            MAX_SLOTS + 1
        ),
        (2, 15),
        &[],
    );
}

/// Control: the same files without the variables are refused at the same
/// places (so the tests above fail only because of the variable).
#[test]
fn without_the_variables_the_same_values_are_refused_at_the_same_places() {
    let _turn = config_turn();
    for (text, at) in [
        ("[groups.\"r37::mask_fixed\"]\nsize = 0\n", (2, 8)),
        (
            "[groups.\"r37::mask_auto\"]\nautoscale_window = 0\n",
            (2, 20),
        ),
        (
            "[groups.\"r37::mask_auto\"]\nautoscale_interval = \"0s\"\n",
            (2, 22),
        ),
        (
            "[groups.\"r37::mask_auto\"]\nmin = 1\nmax = 4\nsize = 9\n",
            (4, 8),
        ),
    ] {
        let err = refused(text);
        assert_eq!(err.origin(), Some(&file_at(at.0, at.1)), "{text}: {err}");
    }
    let text = format!(
        "[groups.\"r37::mask_auto\"]\nautoscale_window = {}\n",
        MAX_SLOTS + 1
    );
    let err = refused(&text);
    assert_eq!(err.origin(), Some(&file_at(2, 20)), "{err}");
    #[cfg(feature = "redis")]
    {
        let text = format!(
            "[groups.\"r37::mask_fixed\"]\nfleet_limit = {}\nfleet_url = \"redis://127.0.0.1:1\"\n",
            MAX_SLOTS + 1
        );
        let err = refused(&text);
        assert_eq!(err.origin(), Some(&file_at(2, 15)), "{err}");
    }
}

// ---------------------------------------------------------------------
// watch
// ---------------------------------------------------------------------

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("pooled-r37-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

static WATCH_SHORT: Group = Group::new(GroupSpec::new("r37::watch_short").size(2));
register_group!(WATCH_SHORT);

/// README: "a changed file is loaded once its content has held still for
/// 20 ms, so one caught mid-save (truncated, not yet rewritten) is not
/// taken for an empty configuration" — whatever `every` the watch was given.
/// A save that leaves the file empty for 8 ms (well under 20 ms), watched
/// every millisecond, must never give the group its declared size back.
#[test]
fn a_save_caught_mid_write_by_a_fast_watch_is_never_loaded_empty() {
    let _turn = config_turn();
    let full = |n: usize| format!("[groups.\"r37::watch_short\"]\nsize = {n}\n");
    let path = temp_file("short", &full(5));
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let watch = config::watch(&path, Duration::from_millis(1), {
        let sizes = sizes.clone();
        move |outcome| {
            if outcome.is_ok() {
                sizes
                    .lock()
                    .unwrap()
                    .push(WATCH_SHORT.settings().starting_size());
            }
        }
    })
    .unwrap();
    assert_eq!(WATCH_SHORT.settings().starting_size(), 5);
    for round in 0..10 {
        // A save: truncated, then written 8 ms later.
        std::fs::write(&path, "").unwrap();
        std::thread::sleep(Duration::from_millis(8));
        std::fs::write(&path, full(6 + round % 2)).unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    drop(watch);
    let sizes = sizes.lock().unwrap().clone();
    assert!(!sizes.is_empty(), "the saves were loaded");
    assert!(
        !sizes.contains(&2),
        "a truncated file was loaded as an empty configuration: sizes seen {sizes:?}"
    );
    std::fs::remove_file(&path).unwrap();
    config::clear();
}

static WATCH_SETTLE: Group = Group::new(GroupSpec::new("r37::watch_settle").size(2));
register_group!(WATCH_SETTLE);

/// README: "a changed file is loaded once its content has held still for
/// 20 ms": never sooner than 20 ms after its last write; content replaced
/// within those 20 ms is not loaded, only the last.
#[test]
fn a_change_is_loaded_no_sooner_than_20_ms_after_the_last_write() {
    let _turn = config_turn();
    let full = |n: usize| format!("[groups.\"r37::watch_settle\"]\nsize = {n}\n");
    let path = temp_file("settle", &full(3));
    let (tx, rx) = mpsc::channel();
    let watch = config::watch(&path, Duration::from_millis(25), move |outcome| {
        let _ = tx.send((Instant::now(), outcome.map(|r| r.to_string())));
    })
    .unwrap();
    for n in [4, 5, 6] {
        std::thread::sleep(Duration::from_millis(200));
        // Two writes 5 ms apart: only the second is loaded.
        std::fs::write(&path, full(n + 10)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        std::fs::write(&path, full(n)).unwrap();
        let written = Instant::now();
        let (at, report) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let report = report.unwrap();
        assert!(
            at.duration_since(written) >= Duration::from_millis(20),
            "loaded {:?} after the last write",
            at.duration_since(written)
        );
        assert!(
            report.contains(&format!("-> {n} ")),
            "only the last content is loaded: {report}"
        );
        assert!(!report.contains(&format!("{}", n + 10)), "{report}");
        assert_eq!(WATCH_SETTLE.settings().starting_size(), n);
    }
    drop(watch);
    assert!(rx.try_recv().is_err(), "one report per change");
    std::fs::remove_file(&path).unwrap();
    config::clear();
}

static WATCH_ENV: Group = Group::new(GroupSpec::new("r37::watch_env").size(2));
register_group!(WATCH_ENV);

/// A watched file is a file layer like `load`'s: the environment still
/// beats it ("Precedence: ... file group table < environment"), and a
/// reload that changes nothing in force reports no change.
#[test]
fn a_watched_files_reloads_keep_the_environment_over_them() {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_R37__WATCH_ENV_SIZE", "7")])).unwrap();
    let full = |n: usize| format!("[groups.\"r37::watch_env\"]\nsize = {n}\nmax_waiting = {n}\n");
    let path = temp_file("env", &full(3));
    let (tx, rx) = mpsc::channel();
    let watch = config::watch(&path, Duration::from_millis(10), move |outcome| {
        let _ = tx.send(outcome);
    })
    .unwrap();
    let s = WATCH_ENV.settings();
    assert_eq!((s.starting_size(), s.max_waiting), (7, Some(3)));
    std::fs::write(&path, full(4)).unwrap();
    let report = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    let rows: Vec<_> = report
        .changes
        .iter()
        .map(|c| (c.group, c.setting, c.from.clone(), c.to.clone(), c.effect))
        .collect();
    assert_eq!(
        rows,
        [(
            "r37::watch_env",
            "max_waiting",
            "3".to_owned(),
            "4".to_owned(),
            Effect::AtFirstUse
        )],
        "{report}"
    );
    let s = WATCH_ENV.settings();
    assert_eq!((s.starting_size(), s.max_waiting), (7, Some(4)));
    drop(watch);
    std::fs::remove_file(&path).unwrap();
    config::clear();
}

// ---------------------------------------------------------------------
// POOLED_* variables
// ---------------------------------------------------------------------

static PATH_GROUP: Group = Group::new(GroupSpec::new("r37::e::f").size(2));
register_group!(PATH_GROUP);
static UNDERSCORED: Group = Group::new(GroupSpec::new("r37::e__f").size(2));
register_group!(UNDERSCORED);

/// README: "groups whose names map to one variable (`x-y`, `x_y`) make it
/// an error naming both": `e::f` and `e__f` both map to `E__F`.
#[test]
fn a_variable_shared_by_a_path_and_a_double_underscore_name_is_an_error_naming_both() {
    let _turn = config_turn();
    assert_eq!(config::mangle("r37::e::f"), config::mangle("r37::e__f"));
    let err = config::load_env_from(vars(&[("POOLED_R37__E__F_SIZE", "5")])).unwrap_err();
    assert_eq!(
        err.origin(),
        Some(&Origin::Env {
            var: "POOLED_R37__E__F_SIZE".into()
        })
    );
    assert!(
        err.message().contains("`r37::e::f`") && err.message().contains("`r37::e__f`"),
        "{err}"
    );
    assert_eq!(PATH_GROUP.settings().starting_size(), 2);
    assert_eq!(UNDERSCORED.settings().starting_size(), 2);
    // The file names each by its own name: no ambiguity there.
    config::load_str(
        "r37.toml",
        "[groups.\"r37::e::f\"]\nsize = 4\n[groups.\"r37::e__f\"]\nsize = 6\n",
    )
    .unwrap();
    assert_eq!(PATH_GROUP.settings().starting_size(), 4);
    assert_eq!(UNDERSCORED.settings().starting_size(), 6);
    config::clear();
}

static EMPTY_VALUES: Group = Group::new(
    GroupSpec::new("r37::empty_values")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4),
);
register_group!(EMPTY_VALUES);

/// Empty strings, blanks and odd values in a variable are errors naming the
/// variable, never panics, never applied ("always an error value with
/// location").
#[test]
fn empty_and_odd_variable_values_are_errors_naming_the_variable() {
    let _turn = config_turn();
    let settings = [
        "KIND",
        "ORDER",
        "SIZE",
        "MIN",
        "MAX",
        "MAX_WAITING",
        "ADMISSION_TIMEOUT",
        "SYNC_BARGING",
        "AUTOSCALE_INTERVAL",
        "AUTOSCALE_WINDOW",
        "POLICY",
        "EXECUTOR",
        "FLEET_LIMIT",
        "FLEET_LEASE",
        "FLEET_UNREACHABLE",
    ];
    for setting in settings {
        for value in ["", "   ", "-1", "NaN", "∞", "18446744073709551616", "1e3"] {
            let var = format!("POOLED_R37__EMPTY_VALUES_{setting}");
            let out =
                std::panic::catch_unwind(|| config::load_env_from(vars(&[(var.as_str(), value)])));
            let err = match out {
                Err(_) => panic!("{var}={value:?} panicked"),
                Ok(Ok(report)) => panic!("{var}={value:?} was accepted: {report}"),
                Ok(Err(err)) => err,
            };
            assert_eq!(
                err.origin(),
                Some(&Origin::Env { var: var.clone() }),
                "{var}={value:?}: {err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("environment variable {var}: ")),
                "{err}"
            );
            assert_eq!(EMPTY_VALUES.settings().bounds(), (1, 4), "all or nothing");
        }
    }
    for value in ["", "0", "-1", "NaN", "18446744073709551616", "1e3", "٣"] {
        let err = config::load_env_from(vars(&[("POOLED_CEILING", value)])).unwrap_err();
        assert_eq!(
            err.origin(),
            Some(&Origin::Env {
                var: "POOLED_CEILING".into()
            }),
            "{value:?}: {err}"
        );
        assert_eq!(pool_runtime::ceiling::limit(), None);
    }
}

/// Odd values in a file: the error names the file, line and column of the
/// value and what would be valid; nothing changes.
#[test]
fn odd_file_values_are_errors_at_the_value_naming_what_is_valid() {
    let _turn = config_turn();
    let head = "[groups.\"r37::empty_values\"]\n";
    for (line, words) in [
        ("max_waiting = 1.5", &["integer", "\"none\""][..]),
        ("max_waiting = -1", &["whole number", "none"][..]),
        ("max_waiting = \"None\"", &["integer", "\"none\""][..]),
        ("admission_timeout = 5", &["string", "\"none\""][..]),
        ("admission_timeout = \"\"", &["duration"][..]),
        (
            "admission_timeout = \"18446744073709551615s\"",
            &["duration"][..],
        ),
        ("sync_barging = \"-1s\"", &["duration"][..]),
        ("kind = \"\"", &["`fixed`", "`autoscale`"][..]),
        ("order = \"FIFO\"", &["`fifo`", "`lifo`"][..]),
        ("policy = \"\"", &["`queue_depth`", "`adaptive`"][..]),
        ("executor = \"\"", &["`default`", "`rayon`"][..]),
        ("min = 9223372036854775807", &["whole number"][..]),
        ("max = true", &["integer"][..]),
        ("autoscale_window = -1", &["autoscale_window"][..]),
    ] {
        let err = refused(&format!("{head}{line}\n"));
        let column = line.find('=').unwrap() + 3;
        assert_eq!(err.origin(), Some(&file_at(2, column)), "`{line}`: {err}");
        for word in words {
            assert!(err.message().contains(word), "`{line}`: `{word}`: {err}");
        }
        assert_eq!(EMPTY_VALUES.settings().bounds(), (1, 4), "all or nothing");
    }
    // A ceiling of every odd kind, top level.
    for (line, column) in [
        ("ceiling = 0", 11),
        ("ceiling = -1", 11),
        ("ceiling = nan", 11),
        ("ceiling = 1.0", 11),
        ("ceiling = \"4\"", 11),
        ("ceiling = 1073741824", 11),
    ] {
        let err = refused(&format!("{line}\n{head}size = 2\n"));
        assert_eq!(err.origin(), Some(&file_at(1, column)), "`{line}`: {err}");
        assert_eq!(pool_runtime::ceiling::limit(), None);
    }
}

// ---------------------------------------------------------------------
// Reloads of running pools, counted from outside
// ---------------------------------------------------------------------

static RELOAD_SYNC: Group = Group::new(
    GroupSpec::new("r37::reload_sync")
        .order(Order::Priority)
        .size(2),
);
register_group!(RELOAD_SYNC);

/// README: "Reload applies changed limits to running pools at once (growing
/// admits waiters, shrinking lets running calls finish)", through the
/// environment layer (`load_env_from`), on sync callers of a priority
/// group: growing reaches the new limit at once; shrinking cancels nothing,
/// and once the running calls finish no more than the new limit run.
#[test]
fn a_reload_from_the_environment_grows_and_shrinks_sync_callers_counted_from_outside() {
    let _turn = config_turn();
    within(LIMIT, || {
        let meter = Meter::default();
        let hold = Arc::new(AtomicBool::new(true));
        // Bodies that start after the shrink, and how many ran at once
        // (any body) when each of them started.
        let late_peak = Arc::new(AtomicUsize::new(0));
        let shrunk = Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..8)
            .map(|i| {
                let (meter, hold, late_peak, shrunk) = (
                    meter.clone(),
                    hold.clone(),
                    late_peak.clone(),
                    shrunk.clone(),
                );
                std::thread::spawn(move || {
                    RELOAD_SYNC.run_weighted(i, || {
                        let inside = meter.enter();
                        if shrunk.load(SeqCst) {
                            late_peak.fetch_max(meter.now(), SeqCst);
                        }
                        while hold.load(SeqCst) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        std::thread::sleep(Duration::from_millis(5));
                        drop(inside);
                    })
                })
            })
            .collect();
        let wait_for = |what: &str, f: &dyn Fn() -> bool| {
            let t0 = Instant::now();
            while !f() {
                assert!(t0.elapsed() < Duration::from_secs(10), "never: {what}");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        wait_for("2 running, 6 waiting", &|| {
            let s = RELOAD_SYNC.stats();
            s.running == 2 && s.waiting == 6 && meter.now() == 2
        });
        let report = config::load_env_from(vars(&[("POOLED_R37__RELOAD_SYNC_SIZE", "5")])).unwrap();
        assert_eq!(
            report.to_string(),
            "r37::reload_sync: size 2 -> 5 (applied)"
        );
        wait_for("5 running at once after growing", &|| meter.now() == 5);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(meter.now(), 5, "no more than the new limit");
        assert_eq!(RELOAD_SYNC.stats().waiting, 3);
        shrunk.store(true, SeqCst);
        let report = config::load_env_from(vars(&[("POOLED_R37__RELOAD_SYNC_SIZE", "1")])).unwrap();
        assert_eq!(
            report.to_string(),
            "r37::reload_sync: size 5 -> 1 (applied)"
        );
        std::thread::sleep(Duration::from_millis(30));
        let s = RELOAD_SYNC.stats();
        assert_eq!((meter.now(), s.running, s.cancelled), (5, 5, 0), "{s:?}");
        hold.store(false, SeqCst);
        for caller in callers {
            caller.join().unwrap().unwrap();
        }
        assert_eq!(meter.done(), 8);
        assert_eq!(meter.max(), 5);
        assert_eq!(
            late_peak.load(SeqCst),
            1,
            "bodies admitted after the shrink ran alone"
        );
        assert_eq!(RELOAD_SYNC.stats().completed, 8);
    });
    config::clear();
}

static NONE_TIMEOUT: Group = Group::new(
    GroupSpec::new("r37::none_timeout")
        .size(1)
        .admission_timeout(Duration::from_millis(40)),
);
register_group!(NONE_TIMEOUT);

/// README: "`admission_timeout` (the string `"none"`, or `none` in a
/// variable, removes one a weaker layer or the declaration gave)", and a
/// reload "applies that to the running pool as it applies a new bound":
/// after `[defaults]` says "none", a call on the running full pool waits
/// past the declared 40 ms; after the variable gives 30 ms again, the next
/// call times out.
#[test]
fn none_in_the_defaults_removes_a_running_pools_timeout_and_a_variable_brings_one_back() {
    let _turn = config_turn();
    within(LIMIT, || {
        let hold = Arc::new(AtomicBool::new(true));
        let holder = {
            let hold = hold.clone();
            std::thread::spawn(move || {
                NONE_TIMEOUT.run(|| {
                    while hold.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
        };
        while NONE_TIMEOUT.stats().running == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The declared timeout holds first.
        let t0 = Instant::now();
        assert_eq!(NONE_TIMEOUT.run(|| ()), Err(Rejected::TimedOut));
        assert!(t0.elapsed() >= Duration::from_millis(40));
        let report =
            config::load_str("r37.toml", "[defaults]\nadmission_timeout = \"none\"\n").unwrap();
        assert!(
            report
                .to_string()
                .contains("r37::none_timeout: admission_timeout 40ms -> none (applied)"),
            "{report}"
        );
        assert_eq!(NONE_TIMEOUT.settings().admission_timeout, None);
        let waiter = std::thread::spawn(|| NONE_TIMEOUT.run(|| 7));
        std::thread::sleep(Duration::from_millis(200));
        assert!(!waiter.is_finished(), "no timeout: it still waits");
        assert_eq!(NONE_TIMEOUT.stats().waiting, 1);
        // The variable gives one again, stronger than the file's "none".
        let report = config::load_env_from(vars(&[(
            "POOLED_R37__NONE_TIMEOUT_ADMISSION_TIMEOUT",
            "30ms",
        )]))
        .unwrap();
        assert!(
            report
                .to_string()
                .contains("r37::none_timeout: admission_timeout none -> 30ms (applied)"),
            "{report}"
        );
        let t0 = Instant::now();
        assert_eq!(NONE_TIMEOUT.run(|| ()), Err(Rejected::TimedOut));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert!(t0.elapsed() < Duration::from_secs(5));
        hold.store(false, SeqCst);
        holder.join().unwrap().unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            Ok(7),
            "the earlier waiter is spared"
        );
    });
    config::clear();
}

static REPORTED: Group = Group::new(GroupSpec::new("r37::reported").size(2));
register_group!(REPORTED);

/// README: a reload "returns a report of what changed and when it takes
/// effect (kind, order, `policy` ..., `executor` ... at the group's next
/// start)": each row exactly, for a group not started (at first use), then
/// running (applied / at restart), and nothing for what did not change.
#[test]
fn a_report_says_each_change_and_when_it_takes_effect_before_and_after_the_start() {
    let _turn = config_turn();
    let text = "[groups.\"r37::reported\"]\nsize = 4\nmax_waiting = 5\n\
                admission_timeout = \"2s\"\nsync_barging = \"3ms\"\norder = \"lifo\"\n\
                executor = \"rayon\"\n";
    let report = config::load_str("r37.toml", text).unwrap();
    let mut lines: Vec<String> = report.to_string().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "r37::reported: admission_timeout none -> 2s (at first use)",
            "r37::reported: executor default -> rayon (at first use)",
            "r37::reported: max_waiting none -> 5 (at first use)",
            "r37::reported: order fifo -> lifo (at first use)",
            "r37::reported: size 2 -> 4 (at first use)",
            "r37::reported: sync_barging none -> 3ms (at first use)",
        ],
        "{report}"
    );
    // The same text again changes nothing.
    assert!(config::load_str("r37.toml", text).unwrap().is_empty());
    assert_eq!(REPORTED.run(|| 1), Ok(1));
    let report = config::clear();
    let mut lines: Vec<String> = report.to_string().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "r37::reported: admission_timeout 2s -> none (applied)",
            "r37::reported: executor rayon -> default (at restart)",
            "r37::reported: max_waiting 5 -> none (applied)",
            "r37::reported: order lifo -> fifo (at restart)",
            "r37::reported: size 4 -> 2 (applied)",
            "r37::reported: sync_barging 3ms -> none (applied)",
        ],
        "{report}"
    );
    assert_eq!(REPORTED.size(), 2);
    let s = REPORTED.settings();
    assert_eq!(
        (s.order, s.max_waiting, s.admission_timeout, s.sync_barging),
        (Order::Lifo, None, None, None),
        "the running pool keeps its order until it restarts"
    );
}

static DECLARED_ADAPTIVE: Group = Group::new(
    GroupSpec::new("r37::declared_adaptive")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .scale_policy(pool_runtime::ScalePolicy::Adaptive(
            pool_runtime::AdaptiveSettings::DEFAULT,
        )),
);
register_group!(DECLARED_ADAPTIVE);

/// README: the `adaptive_*` keys are "used if the group's policy is
/// adaptive in the end, whichever layer names it; in a group's table or
/// variable, on a group whose policy is not adaptive they are an error, not
/// ignored": a table's parameter on a group declared adaptive is an error
/// at the parameter once the environment makes its policy `queue_depth`,
/// and fine without that variable.
#[test]
fn a_tables_adaptive_parameter_is_an_error_once_the_environment_takes_the_policy_away() {
    let _turn = config_turn();
    let text = "[groups.\"r37::declared_adaptive\"]\nmax = 6\nadaptive_backoff = 0.5\n";
    config::load_str("r37.toml", text).unwrap();
    match DECLARED_ADAPTIVE.settings().policy {
        pool_runtime::ScalePolicy::Adaptive(p) => assert_eq!(p.backoff, 0.5),
        other => panic!("{other:?}"),
    }
    let err = config::load_env_from(vars(&[(
        "POOLED_R37__DECLARED_ADAPTIVE_POLICY",
        "queue_depth",
    )]))
    .unwrap_err();
    assert_eq!(err.origin(), Some(&file_at(3, 20)), "{err}");
    assert!(err.message().contains("r37::declared_adaptive"), "{err}");
    assert!(err.message().contains("adaptive"), "{err}");
    assert!(
        matches!(
            DECLARED_ADAPTIVE.settings().policy,
            pool_runtime::ScalePolicy::Adaptive(_)
        ),
        "all or nothing"
    );
    // The other way round: the variable's parameter, the file's policy.
    config::clear();
    config::load_env_from(vars(&[(
        "POOLED_R37__DECLARED_ADAPTIVE_ADAPTIVE_BACKOFF",
        "0.25",
    )]))
    .unwrap();
    let err = refused("[groups.\"r37::declared_adaptive\"]\npolicy = \"queue_depth\"\n");
    assert_eq!(
        err.origin(),
        Some(&Origin::Env {
            var: "POOLED_R37__DECLARED_ADAPTIVE_ADAPTIVE_BACKOFF".into()
        }),
        "{err}"
    );
    config::clear();
}

static START_CHECKED: Group = Group::new(
    GroupSpec::new("r37::start_checked")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(6),
);
register_group!(START_CHECKED);

/// The docs of `config` ("Bounds"): "An autoscaled group's start (`size`)
/// that only its declaration gives is brought into the bounds a load
/// gives (...). A `size` a file or variable gives outside the bounds is an
/// error at it": the declared start 6 is brought to a variable's `max = 4`;
/// a file's start 6 under the same variable is an error at the file's
/// value.
#[test]
fn a_start_only_declared_is_brought_into_loaded_bounds_but_a_files_start_is_checked() {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_R37__START_CHECKED_MAX", "4")])).unwrap();
    let s = START_CHECKED.settings();
    assert_eq!((s.starting_size(), s.bounds()), (4, (1, 4)));
    assert!(s.check().is_ok());
    let err = refused("[groups.\"r37::start_checked\"]\nsize = 6\n");
    assert_eq!(err.origin(), Some(&file_at(2, 8)), "{err}");
    assert!(err.message().contains("r37::start_checked"), "{err}");
    // Inside the bounds, the file's start holds.
    config::load_str("r37.toml", "[groups.\"r37::start_checked\"]\nsize = 3\n").unwrap();
    assert_eq!(START_CHECKED.settings().starting_size(), 3);
    config::clear();
    assert_eq!(START_CHECKED.settings().starting_size(), 6);
}

static FIRST_READ: Group = Group::new(GroupSpec::new("r37::first_read").size(3));
register_group!(FIRST_READ);

/// README: "`pooled::config::load(path)` (or `POOLED_CONFIG=path`, read at
/// first use)", "`POOLED_CEILING=64`", and precedence "file < environment":
/// at the first use the file's ceiling and size give way to the
/// variables; a later `load` keeps the environment read then over the new
/// file, and a later `load_env_from` that drops the variables lets the
/// file's values through.
#[test]
fn the_first_use_reads_the_file_and_the_variables_and_later_loads_keep_the_layers_apart() {
    const NAME: &str =
        "the_first_use_reads_the_file_and_the_variables_and_later_loads_keep_the_layers_apart";
    let path = std::env::temp_dir().join(format!("pooled-r37-first-{}.toml", std::process::id()));
    if !common::is_child_process() {
        std::fs::write(
            &path,
            "ceiling = 2\n[groups.\"r37::first_read\"]\nsize = 5\n",
        )
        .unwrap();
    }
    let shown = path.display().to_string();
    common::in_own_process(
        NAME,
        &[
            ("POOLED_CONFIG", shown.as_str()),
            ("POOLED_CEILING", "7"),
            ("POOLED_R37__FIRST_READ_SIZE", "6"),
        ],
        || {
            assert_eq!(FIRST_READ.run(|| 1), Ok(1));
            assert_eq!(FIRST_READ.size(), 6, "the variable over the file");
            assert_eq!(pool_runtime::ceiling::limit(), Some(7));
            let report = config::load_str(
                "later.toml",
                "ceiling = 1\n[groups.\"r37::first_read\"]\nsize = 4\nmax_waiting = 2\n",
            )
            .unwrap();
            assert_eq!(
                report.to_string(),
                "r37::first_read: max_waiting none -> 2 (applied)",
                "the environment still beats the new file"
            );
            assert_eq!(pool_runtime::ceiling::limit(), Some(7));
            assert_eq!(FIRST_READ.size(), 6);
            let report = config::load_env_from(vars(&[])).unwrap();
            let mut lines: Vec<String> = report.to_string().lines().map(str::to_owned).collect();
            lines.sort();
            assert_eq!(
                lines,
                [
                    "(ceiling): ceiling 7 -> 1 (applied)",
                    "r37::first_read: size 6 -> 4 (applied)",
                ]
            );
            assert_eq!(FIRST_READ.size(), 4);
            assert_eq!(pool_runtime::ceiling::limit(), Some(1));
        },
    );
    if !common::is_child_process() {
        let _ = std::fs::remove_file(&path);
    }
}

static RACE_A: Group = Group::new(GroupSpec::new("r37::race_a").size(2));
register_group!(RACE_A);
static RACE_B: Group = Group::new(
    GroupSpec::new("r37::race_b")
        .kind(Kind::Autoscale)
        .min(1)
        .max(6),
);
register_group!(RACE_B);

/// README ("Lock order"): "reading settings (`Group::settings()`,
/// `pooled::groups()`) can race a reload or a group's first use without
/// deadlock": readers on three threads, calls on two, and a `watch`
/// reloading a file rewritten every few milliseconds, all end; the limits
/// in force are never exceeded (counted from outside against the largest
/// size the file ever gives).
#[test]
fn settings_readers_race_watched_reloads_and_calls_without_deadlock_or_excess() {
    let _turn = config_turn();
    let text = |n: usize| {
        format!(
            "ceiling = {}\n[groups.\"r37::race_a\"]\nsize = {n}\n[groups.\"r37::race_b\"]\nmin = 1\nmax = {}\n",
            n + 2,
            n + 1
        )
    };
    let path = temp_file("race", &text(1));
    within(LIMIT, move || {
        let reloads = Arc::new(AtomicUsize::new(0));
        let watch = config::watch(&path, Duration::from_millis(2), {
            let reloads = reloads.clone();
            move |outcome| {
                outcome.unwrap();
                // A reader on the watching thread too.
                let _ = RACE_A.settings();
                let _ = pool_runtime::groups();
                reloads.fetch_add(1, SeqCst);
            }
        })
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let meter = Meter::default();
        let mut threads = Vec::new();
        for _ in 0..3 {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let a = RACE_A.settings().starting_size();
                    assert!((1..=3).contains(&a), "{a}");
                    let listed = pool_runtime::groups()
                        .into_iter()
                        .filter(|g| g.name.starts_with("r37::race_"))
                        .count();
                    assert_eq!(listed, 2);
                    let _ = RACE_B.settings().bounds();
                }
            }));
        }
        for group in [&RACE_A, &RACE_B] {
            let (stop, meter) = (stop.clone(), meter.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let _ = group.run(|| {
                        let _inside = meter.enter();
                        std::thread::sleep(Duration::from_micros(200));
                    });
                }
            }));
        }
        // Each content held for 60 ms: past the 20 ms a change must hold
        // still before the watch loads it, with room for a loaded machine.
        for round in 0..30 {
            std::fs::write(&path, text(1 + round % 3)).unwrap();
            std::thread::sleep(Duration::from_millis(60));
        }
        stop.store(true, SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        drop(watch);
        assert!(reloads.load(SeqCst) >= 10, "{}", reloads.load(SeqCst));
        // The largest ceiling the file gives is 5.
        assert!(meter.max() <= 5, "{}", meter.max());
        let _ = std::fs::remove_file(&path);
    });
    config::clear();
}

static DEFAULTS_KIND: Group = Group::new(GroupSpec::new("r37::defaults_kind").size(4));
register_group!(DEFAULTS_KIND);

/// README: "`[defaults]`" is weaker than the group's table but stronger
/// than the attribute, and the docs of `config`: the `[defaults]` table's
/// "`size` applies to fixed groups only (...): the kind a group ends up
/// with, after the layers above", "(or the `[defaults]` size, which beats
/// the declaration)". A `[defaults]` table that makes every group
/// autoscaled and gives `size = 5`, and a group table that makes this group
/// fixed again: the group ends up fixed, so the defaults' size is its slot
/// count, not the declared 4.
#[test]
fn a_defaults_size_reaches_a_group_its_table_makes_fixed_over_a_defaults_kind() {
    let _turn = config_turn();
    config::load_str(
        "r37.toml",
        "[defaults]\nkind = \"autoscale\"\nsize = 5\nmin = 2\nmax = 6\n\
         [groups.\"r37::defaults_kind\"]\nkind = \"fixed\"\n",
    )
    .unwrap();
    let s = DEFAULTS_KIND.settings();
    assert_eq!((s.kind, s.min, s.max), (Kind::Fixed, None, None));
    assert_eq!(
        s.starting_size(),
        5,
        "the defaults' size beats the declaration for a group that ends fixed"
    );
    // Control: without the defaults' kind, the same size reaches it.
    config::load_str(
        "r37.toml",
        "[defaults]\nsize = 5\n[groups.\"r37::defaults_kind\"]\nkind = \"fixed\"\n",
    )
    .unwrap();
    assert_eq!(DEFAULTS_KIND.settings().starting_size(), 5);
    config::clear();
}

static DEFAULTS_KIND_AUTO: Group = Group::new(
    GroupSpec::new("r37::defaults_kind_auto")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8),
);
register_group!(DEFAULTS_KIND_AUTO);

/// The same the other way round: the `[defaults]` table's `min`/`max`
/// apply "to autoscaled ones only: the kind a group ends up with": a
/// `[defaults]` table that makes every group fixed and gives `min = 2`,
/// `max = 6`, and a group table that makes this group autoscaled again:
/// the defaults' bounds beat the declared 1..8.
#[test]
fn defaults_bounds_reach_a_group_its_table_makes_autoscaled_over_a_defaults_kind() {
    let _turn = config_turn();
    config::load_str(
        "r37.toml",
        "[defaults]\nkind = \"fixed\"\nmin = 2\nmax = 6\n\
         [groups.\"r37::defaults_kind_auto\"]\nkind = \"autoscale\"\n",
    )
    .unwrap();
    let s = DEFAULTS_KIND_AUTO.settings();
    assert_eq!(s.kind, Kind::Autoscale);
    assert_eq!(
        s.bounds(),
        (2, 6),
        "the defaults' bounds beat the declaration for a group that ends autoscaled"
    );
    config::clear();
}

static BACKLOG: Group = Group::new(GroupSpec::new("r37::backlog").size(1));
register_group!(BACKLOG);
static BYSTANDER: Group = Group::new(GroupSpec::new("r37::bystander").size(3));
register_group!(BYSTANDER);

/// README: "A call waiting for its group's slot holds its ceiling slot
/// meanwhile: give a backlogged group a `max_waiting` bound or an
/// `admission_timeout`, or its waiting calls can take up the whole ceiling
/// (a group scaled to 0 with as many waiters as the ceiling stalls every
/// group)": under `ceiling = 2`, two calls waiting on a group scaled to 0
/// stall another group (its call with a loaded timeout times out, one
/// without waits) until the group is scaled up; with `max_waiting = 1`
/// loaded for the backlogged group, its second call is turned away and
/// gives its ceiling slot back, so the other group runs at once.
#[test]
fn a_backlogged_group_takes_up_the_ceiling_unless_its_loaded_waiting_bound_stops_it() {
    let _turn = config_turn();
    within(LIMIT, || {
        let meter = Meter::default();
        config::load_str(
            "r37.toml",
            "ceiling = 2\n[groups.\"r37::bystander\"]\nadmission_timeout = \"50ms\"\n",
        )
        .unwrap();
        BACKLOG.resize(0);
        let backlogged: Vec<_> = (0..2)
            .map(|_| {
                let meter = meter.clone();
                std::thread::spawn(move || BACKLOG.run(|| drop(meter.enter())))
            })
            .collect();
        let t0 = Instant::now();
        while BACKLOG.stats().waiting < 2 {
            assert!(t0.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        let ceiling = pool_runtime::ceiling::stats().unwrap();
        assert_eq!((ceiling.running, ceiling.waiting), (2, 0), "{ceiling:?}");
        // Every group stalls: a call with a timeout times out.
        let t0 = Instant::now();
        assert_eq!(BYSTANDER.run(|| ()), Err(Rejected::TimedOut));
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert_eq!(meter.done(), 0);
        BACKLOG.resize(1);
        for b in backlogged {
            b.join().unwrap().unwrap();
        }
        assert_eq!(BYSTANDER.run(|| 3), Ok(3), "free once the backlog ran");

        // The same backlog, bounded by a loaded waiting bound of 1.
        config::load_str(
            "r37.toml",
            "ceiling = 2\n[groups.\"r37::backlog\"]\nmax_waiting = 1\n\
             [groups.\"r37::bystander\"]\nadmission_timeout = \"50ms\"\n",
        )
        .unwrap();
        BACKLOG.resize(0);
        let first = {
            let meter = meter.clone();
            std::thread::spawn(move || BACKLOG.run(|| drop(meter.enter())))
        };
        let t0 = Instant::now();
        while BACKLOG.stats().waiting < 1 {
            assert!(t0.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(BACKLOG.run(|| ()), Err(Rejected::Full), "the loaded bound");
        let ceiling = pool_runtime::ceiling::stats().unwrap();
        assert_eq!(
            ceiling.running, 1,
            "the turned-away call gave its slot back"
        );
        assert_eq!(BYSTANDER.run(|| 4), Ok(4), "another group runs at once");
        BACKLOG.resize(1);
        first.join().unwrap().unwrap();
        assert_eq!(meter.done(), 3);
        assert!(meter.max() <= 2);
    });
    config::clear();
}
