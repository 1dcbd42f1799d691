//! Acceptance tests, round 17 (runtime): the default-bound rule on
//! hand-written group specs under configuration, environment names that two
//! groups share, a non-ASCII group name's variable, and `config::watch`'s
//! edges (an `every` of zero or `Duration::MAX`, a callback that panics or
//! drops its own watch). Waits are bounded only to turn a hang into a
//! failure.
#![cfg(feature = "config")]

mod common;
use common::{config_turn, vars, within};
use pool_runtime::{config, register_group, Group, GroupSpec, Kind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every wait is over by then, or the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

static MIN_ONLY: Group = Group::new(
    GroupSpec::new("r17rt::min_only")
        .kind(Kind::Autoscale)
        .min(2),
);
register_group!(MIN_ONLY);

/// `pool-settings/src/limits.rs`: "`max` to `min` plus
/// [`DEFAULT_AUTOSCALE_HEADROOM`] ... one rule for the builder, the attribute
/// and configuration". A hand-written spec that gives only `min` follows a
/// configured `min` with its default `max` (the control for the attribute's
/// case in `tests/acceptance_round17.rs`).
#[test]
fn a_hand_written_specs_default_max_follows_a_configured_min() {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_R17RT__MIN_ONLY_MIN", "10")])).unwrap();
    assert_eq!(MIN_ONLY.settings().check().unwrap().1, (10, 15));
    config::clear();
}

static DASHED: Group = Group::new(GroupSpec::new("r17rt::x-y").size(2));
register_group!(DASHED);
static UNDERSCORED: Group = Group::new(GroupSpec::new("r17rt::x_y").size(2));
register_group!(UNDERSCORED);

/// README, "Configuration": "groups whose names map to one variable (`x-y`,
/// `x_y`) make it an error naming both"; `config/env.rs`: "make a variable
/// that names them an error naming both". Other loads are not affected, and
/// the file, which spells names out, tells them apart.
#[test]
fn a_variable_two_groups_share_is_an_error_naming_both() {
    let _turn = config_turn();
    let var = "POOLED_R17RT__X_Y_SIZE";
    let err = config::load_env_from(vars(&[(var, "4")])).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(var), "{message}");
    assert!(message.contains("r17rt::x-y"), "{message}");
    assert!(message.contains("r17rt::x_y"), "{message}");
    assert_eq!(DASHED.settings().size, Some(2), "all or nothing");
    config::load_env_from(vars(&[("POOLED_R17RT__MIN_ONLY_MAX", "9")])).unwrap();
    let file = "[groups.\"r17rt::x-y\"]\nsize = 5\n[groups.\"r17rt::x_y\"]\nsize = 6\n";
    config::load_str("xy.toml", file).unwrap();
    assert_eq!(
        (DASHED.settings().size, UNDERSCORED.settings().size),
        (Some(5), Some(6))
    );
    config::clear();
}

static ACCENTED: Group = Group::new(GroupSpec::new("r17rt::café").size(2));
register_group!(ACCENTED);

/// `config/env.rs`: names are mangled "by upper-casing ASCII letters, turning
/// each `::` into `__` and every other character that is not an ASCII letter
/// or digit into `_`" (`config::mangle` is public): `r17rt::café` is tuned by
/// `POOLED_R17RT__CAF__SIZE`.
#[test]
fn a_non_ascii_group_name_is_tuned_by_its_mangled_variable() {
    let _turn = config_turn();
    assert_eq!(config::mangle("r17rt::café"), "R17RT__CAF_");
    config::load_env_from(vars(&[("POOLED_R17RT__CAF__SIZE", "5")])).unwrap();
    assert_eq!(ACCENTED.settings().size, Some(5));
    config::clear();
}

static WATCHED: Group = Group::new(GroupSpec::new("r17rt::watched").size(1));
register_group!(WATCHED);

fn watched_file(tag: &str, size: usize) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("pooled-r17rt-{tag}-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        format!("[groups.\"r17rt::watched\"]\nsize = {size}\n"),
    )
    .unwrap();
    path
}

/// `config::watch` docs: "an `every` of zero (which would never let the
/// thread rest) is an error too. An `every` too long to pass
/// (`Duration::MAX`) means the file is loaded once and never looked at
/// again"; "Dropping the [`Watch`] stops the thread". With `Duration::MAX`
/// the first load applies, a change is never loaded, and the drop returns at
/// once rather than after the thread's rest.
#[test]
fn watch_with_every_zero_is_refused_and_with_duration_max_loads_once() {
    let _turn = config_turn();
    let path = watched_file("max", 3);
    let err = config::watch(&path, Duration::ZERO, |_| {}).unwrap_err();
    assert!(err.to_string().contains("0 s"), "{err}");
    assert_eq!(WATCHED.settings().size, Some(1), "nothing loaded");

    let (tx, rx) = mpsc::channel();
    let watch = config::watch(&path, Duration::MAX, move |outcome| {
        let _ = tx.send(outcome.map(|r| r.to_string()));
    })
    .unwrap();
    assert_eq!(WATCHED.settings().size, Some(3), "loaded once");
    std::fs::write(&path, "[groups.\"r17rt::watched\"]\nsize = 4\n").unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "never looked at again"
    );
    within(Duration::from_secs(5), move || drop(watch));
    assert_eq!(WATCHED.settings().size, Some(3));
    std::fs::remove_file(&path).ok();
    config::clear();
}

/// `config::watch` docs: "A panic in it is caught and the watch goes on";
/// "Dropping the [`Watch`] stops the thread and waits for a reload in
/// progress to finish (unless it is dropped by `on_reload` itself)". A
/// callback that panics once still gets the next reload; a callback that
/// drops its own watch neither deadlocks nor gets another reload.
#[test]
fn watch_survives_a_panicking_callback_and_one_that_drops_its_own_watch() {
    let _turn = config_turn();
    let path = watched_file("cb", 2);
    let (tx, rx) = mpsc::channel();
    let own: Arc<Mutex<Option<config::Watch>>> = Arc::new(Mutex::new(None));
    let slot = own.clone();
    let mut calls = 0;
    let watch = config::watch(&path, Duration::from_millis(5), move |outcome| {
        calls += 1;
        let _ = tx.send(outcome.map(|r| r.to_string()));
        match calls {
            1 => panic!("planned: a callback that panics"),
            2 => drop(slot.lock().unwrap().take()),
            _ => {}
        }
    })
    .unwrap();
    *own.lock().unwrap() = Some(watch);
    let path2 = path.clone();
    within(DEADLINE, move || {
        std::fs::write(&path2, "[groups.\"r17rt::watched\"]\nsize = 3\n").unwrap();
        let first = rx.recv_timeout(DEADLINE).expect("a reload").unwrap();
        assert!(first.contains("size 2 -> 3"), "{first}");
        std::fs::write(&path2, "[groups.\"r17rt::watched\"]\nsize = 4\n").unwrap();
        let second = rx
            .recv_timeout(DEADLINE)
            .expect("the watch went on after the panic")
            .unwrap();
        assert!(second.contains("size 3 -> 4"), "{second}");
        // The callback dropped its own watch: no more reloads.
        std::fs::write(&path2, "[groups.\"r17rt::watched\"]\nsize = 5\n").unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    });
    assert!(own.lock().unwrap().is_none());
    assert_eq!(WATCHED.settings().size, Some(4));
    std::fs::remove_file(&path).ok();
    config::clear();
}
