//! Acceptance round 25 (runtime): configuration on every surface, live
//! reload against calls already waiting, isolation of global groups.
//! Written from the README's and `pooled::config`'s promises.
#![cfg(all(feature = "config", feature = "tokio"))]

mod common;

use common::{config_turn, vars, within, Meter};
use pool_runtime::config::{self, Effect, Report};
use pool_runtime::{register_group, Group, GroupSpec, Kind, Rejected};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(20);

/// Waits (bounded) until `cond` holds.
#[track_caller]
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WATCHDOG, "hung waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn change<'a>(
    report: &'a Report,
    group: &str,
    setting: &str,
) -> Option<&'a pool_runtime::config::Change> {
    report
        .changes
        .iter()
        .find(|c| c.group == group && c.setting == setting)
}

// ---------------------------------------------------------------------------
// Live reload: the waiting bound, the admission timeout and the sync barging
// bound "apply to calls that arrive from then on" (config module docs, "Live
// reload"); `Pool::set_max_waiting`: "calls already waiting keep their place".
// ---------------------------------------------------------------------------

static LATE_TIMEOUT: Group = Group::new(GroupSpec::new("acc25::late_timeout").size(1));
register_group!(LATE_TIMEOUT);

/// A reload that gives the group an admission timeout does not time out the
/// calls already waiting; calls that arrive after it do time out.
#[test]
fn a_reloaded_admission_timeout_spares_calls_already_waiting() {
    let _turn = config_turn();
    let held = LATE_TIMEOUT.pool().try_acquire_owned(0).unwrap();
    let (tx, rx) = mpsc::channel();
    let sync_tx = tx.clone();
    let sync_waiter = std::thread::spawn(move || {
        let _ = sync_tx.send(("sync", LATE_TIMEOUT.run(|| 1)));
    });
    let rt = common::runtime();
    let async_tx = tx.clone();
    rt.spawn(async move {
        let _ = async_tx.send(("async", LATE_TIMEOUT.submit(0, async { 2 }).await));
    });
    until("two calls waiting", || LATE_TIMEOUT.stats().waiting == 2);

    let report = config::load_str(
        "late.toml",
        "[groups.\"acc25::late_timeout\"]\nadmission_timeout = \"200ms\"\n",
    )
    .unwrap();
    assert_eq!(
        change(&report, "acc25::late_timeout", "admission_timeout").map(|c| c.effect),
        Some(Effect::Applied),
        "{report:?}"
    );
    // A call arriving now times out by the new bound.
    let started = Instant::now();
    assert_eq!(LATE_TIMEOUT.run(|| 3), Err(Rejected::TimedOut));
    assert!(started.elapsed() >= Duration::from_millis(150));
    // The calls that were waiting before the reload are still waiting, well
    // past the new bound measured from the reload.
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        rx.try_recv().is_err(),
        "a call waiting before the reload was turned away by its timeout"
    );
    assert_eq!(LATE_TIMEOUT.stats().waiting, 2);
    drop(held);
    let mut got: Vec<_> = (0..2)
        .map(|_| rx.recv_timeout(WATCHDOG).expect("hung"))
        .collect();
    got.sort_by_key(|(form, _)| *form);
    assert_eq!(got, vec![("async", Ok(2)), ("sync", Ok(1))]);
    sync_waiter.join().unwrap();
    config::clear();
}

static LATE_BOUND: Group = Group::new(GroupSpec::new("acc25::late_bound").size(1));
register_group!(LATE_BOUND);

/// Lowering `max_waiting` below the calls already waiting keeps them all
/// (they complete); only new calls are turned away as `Full`.
#[test]
fn a_reloaded_waiting_bound_below_the_queue_keeps_every_waiting_call() {
    let _turn = config_turn();
    let meter = Meter::default();
    let held = LATE_BOUND.pool().try_acquire_owned(0).unwrap();
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    for i in 0..4 {
        let (tx, meter) = (tx.clone(), meter.clone());
        threads.push(std::thread::spawn(move || {
            let _ = tx.send(LATE_BOUND.run(|| {
                let _in = meter.enter();
                std::thread::sleep(Duration::from_millis(5));
                i
            }));
        }));
    }
    until("four calls waiting", || LATE_BOUND.stats().waiting == 4);
    config::load_str(
        "bound.toml",
        "[groups.\"acc25::late_bound\"]\nmax_waiting = 1\n",
    )
    .unwrap();
    assert_eq!(LATE_BOUND.pool().max_waiting(), Some(1));
    assert_eq!(LATE_BOUND.run(|| 9), Err(Rejected::Full));
    assert_eq!(
        LATE_BOUND.stats().waiting,
        4,
        "waiting calls keep their place"
    );
    drop(held);
    let mut got: Vec<_> = (0..4)
        .map(|_| rx.recv_timeout(WATCHDOG).expect("hung").unwrap())
        .collect();
    got.sort();
    assert_eq!(got, vec![0, 1, 2, 3]);
    assert_eq!(meter.max(), 1);
    for t in threads {
        t.join().unwrap();
    }
    config::clear();
}

static BARGING_RELOAD: Group = Group::new(
    GroupSpec::new("acc25::barging_reload")
        .size(1)
        .sync_barging(Duration::from_millis(500)),
);
register_group!(BARGING_RELOAD);

/// A sync call waiting outside the queue (sync barging) when a reload gives
/// the group an admission timeout arrived before it: when its barging bound
/// runs out and it takes its place in the queue, it must not take the new
/// timeout ("apply to calls that arrive from then on").
#[test]
fn a_barging_sync_call_does_not_take_a_timeout_loaded_while_it_waited() {
    let _turn = config_turn();
    let held = BARGING_RELOAD.pool().try_acquire_owned(0).unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(BARGING_RELOAD.run(|| 1));
    });
    until("the sync call waits", || {
        BARGING_RELOAD.stats().waiting == 1
    });
    config::load_str(
        "barge.toml",
        "[groups.\"acc25::barging_reload\"]\nadmission_timeout = \"200ms\"\n",
    )
    .unwrap();
    assert_eq!(
        BARGING_RELOAD.pool().admission_timeout(),
        Some(Duration::from_millis(200))
    );
    // Past the barging bound (500 ms from its arrival) and the new timeout
    // after it.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        rx.try_recv().is_err(),
        "the call that waited before the reload was turned away"
    );
    drop(held);
    assert_eq!(rx.recv_timeout(WATCHDOG).expect("hung"), Ok(1));
    waiter.join().unwrap();
    assert_eq!(BARGING_RELOAD.stats().rejected_for(Rejected::TimedOut), 0);
    config::clear();
}

static BARGING_BOUND: Group = Group::new(
    GroupSpec::new("acc25::barging_bound")
        .size(1)
        .sync_barging(Duration::from_millis(400)),
);
register_group!(BARGING_BOUND);

/// Callers outside the queue "count as waiting": one that waited before a
/// reload set `max_waiting = 0` keeps its place when its barging bound runs
/// out (calls already waiting keep their place).
#[test]
fn a_barging_sync_call_is_not_turned_away_by_a_waiting_bound_loaded_while_it_waited() {
    let _turn = config_turn();
    let held = BARGING_BOUND.pool().try_acquire_owned(0).unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(BARGING_BOUND.run(|| 1));
    });
    until("the sync call waits", || BARGING_BOUND.stats().waiting == 1);
    config::load_str(
        "barge.toml",
        "[groups.\"acc25::barging_bound\"]\nmax_waiting = 0\n",
    )
    .unwrap();
    assert_eq!(BARGING_BOUND.run(|| 2), Err(Rejected::Full), "a new call");
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        rx.try_recv().is_err(),
        "the call that waited before the reload was turned away"
    );
    drop(held);
    assert_eq!(rx.recv_timeout(WATCHDOG).expect("hung"), Ok(1));
    waiter.join().unwrap();
    config::clear();
}

// ---------------------------------------------------------------------------
// Removing a group from the file; a bad file keeps the previous settings.
// ---------------------------------------------------------------------------

static REMOVED: Group = Group::new(GroupSpec::new("acc25::removed").size(2));
register_group!(REMOVED);

#[test]
fn removing_a_groups_table_brings_back_its_declared_settings_in_the_running_pool() {
    let _turn = config_turn();
    assert_eq!(REMOVED.size(), 2);
    let report = config::load_str(
        "a.toml",
        "[groups.\"acc25::removed\"]\nsize = 5\nmax_waiting = 7\nadmission_timeout = \"3s\"\n",
    )
    .unwrap();
    assert_eq!(
        change(&report, "acc25::removed", "size").map(|c| c.effect),
        Some(Effect::Applied)
    );
    assert_eq!(REMOVED.size(), 5);
    assert_eq!(REMOVED.pool().max_waiting(), Some(7));
    // The table goes away (another group's table stays, so the file is not
    // empty).
    let report = config::load_str("a.toml", "ceiling = 50\n").unwrap();
    let size = change(&report, "acc25::removed", "size").expect("size in the report");
    assert_eq!((size.from.as_str(), size.to.as_str()), ("5", "2"));
    assert_eq!(size.effect, Effect::Applied);
    assert_eq!(REMOVED.size(), 2);
    assert_eq!(REMOVED.pool().max_waiting(), None);
    assert_eq!(REMOVED.pool().admission_timeout(), None);
    let s = REMOVED.settings();
    assert_eq!(
        (s.size, s.max_waiting, s.admission_timeout),
        (Some(2), None, None)
    );
    config::clear();
}

static KEPT: Group = Group::new(GroupSpec::new("acc25::kept").size(2));
register_group!(KEPT);

#[test]
fn a_bad_reload_names_its_place_and_keeps_the_previous_settings_and_pool() {
    let _turn = config_turn();
    config::load_str(
        "good.toml",
        "[groups.\"acc25::kept\"]\nsize = 4\nmax_waiting = 9\n",
    )
    .unwrap();
    assert_eq!(KEPT.size(), 4);
    let before = KEPT.settings();
    let bad = "[groups.\"acc25::kept\"]\nsize = 6\nmax_waiting = 9\norder = \"sideways\"\n";
    let err = config::load_str("bad.toml", bad).unwrap_err();
    let shown = err.to_string();
    assert!(shown.starts_with("bad.toml:4:9:"), "{shown}");
    for choice in ["fifo", "lifo", "priority"] {
        assert!(shown.contains(choice), "valid choices missing: {shown}");
    }
    assert_eq!(KEPT.size(), 4, "a bad load changes nothing");
    assert_eq!(KEPT.settings(), before);
    // The environment layer is kept apart: a bad variable keeps the file.
    let err = config::load_env_from(vars(&[("POOLED_ACC25__KEPT_SIZE", "six")])).unwrap_err();
    assert!(err.to_string().contains("POOLED_ACC25__KEPT_SIZE"), "{err}");
    assert_eq!(KEPT.size(), 4);
    assert_eq!(KEPT.settings(), before);
    config::clear();
}

// ---------------------------------------------------------------------------
// Every key on the file and environment surfaces: bad values are refused at
// their place (file line and column of the value, or the variable).
// ---------------------------------------------------------------------------

static EVERY_KEY: Group = Group::new(GroupSpec::new("acc25::every_key").size(2));
register_group!(EVERY_KEY);

static EVERY_AUTO: Group = Group::new(
    GroupSpec::new("acc25::every_auto")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4),
);
register_group!(EVERY_AUTO);

#[test]
fn a_bad_value_of_every_key_is_refused_at_its_line_and_column() {
    let _turn = config_turn();
    // (group, key = value) pairs, each wrong on its own.
    let cases: &[(&str, &str)] = &[
        ("acc25::every_key", "kind = \"elastic\""),
        ("acc25::every_key", "order = \"random\""),
        ("acc25::every_key", "size = 0"),
        ("acc25::every_key", "size = 1073741824"),
        ("acc25::every_key", "size = \"four\""),
        ("acc25::every_key", "max_waiting = 1073741824"),
        ("acc25::every_key", "max_waiting = \"lots\""),
        ("acc25::every_key", "admission_timeout = \"2 fortnights\""),
        ("acc25::every_key", "sync_barging = \"soon\""),
        ("acc25::every_key", "executor = \"gpu\""),
        ("acc25::every_auto", "policy = \"greedy\""),
        ("acc25::every_auto", "autoscale_interval = \"0s\""),
        ("acc25::every_auto", "autoscale_window = 0"),
        ("acc25::every_auto", "autoscale_window = 4097"),
        ("acc25::every_auto", "min = 1073741824"),
        ("acc25::every_auto", "max = 0"),
    ];
    for (group, line) in cases {
        let text = format!("# comment\n[groups.\"{group}\"]\n{line}\n");
        let err = config::load_str("keys.toml", &text).unwrap_err();
        let shown = err.to_string();
        let column = line.find('=').unwrap() + 3;
        assert!(
            shown.starts_with(&format!("keys.toml:3:{column}:")),
            "{line}: {shown}"
        );
        assert!(err.origin().is_some(), "{line}: {shown}");
        assert_eq!(
            EVERY_KEY.settings().size,
            Some(2),
            "{line}: a bad load changed nothing"
        );
    }
    // The same in `[defaults]`, which is checked whether or not it reaches
    // a group.
    for line in [
        "kind = \"elastic\"",
        "admission_timeout = \"later\"",
        "max_waiting = -1",
    ] {
        let text = format!("\n[defaults]\n{line}\n");
        let err = config::load_str("defaults.toml", &text).unwrap_err();
        let column = line.find('=').unwrap() + 3;
        assert!(
            err.to_string()
                .starts_with(&format!("defaults.toml:3:{column}:")),
            "{line}: {err}"
        );
    }
}

#[test]
fn a_bad_value_of_every_key_is_refused_naming_its_variable() {
    let _turn = config_turn();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "POOLED_ACC25__EVERY_KEY_KIND",
            "elastic",
            &["fixed", "autoscale"],
        ),
        (
            "POOLED_ACC25__EVERY_KEY_ORDER",
            "random",
            &["fifo", "lifo", "priority"],
        ),
        ("POOLED_ACC25__EVERY_KEY_SIZE", "0", &[]),
        ("POOLED_ACC25__EVERY_KEY_SIZE", "four", &[]),
        ("POOLED_ACC25__EVERY_KEY_MAX_WAITING", "1073741824", &[]),
        (
            "POOLED_ACC25__EVERY_KEY_ADMISSION_TIMEOUT",
            "2 fortnights",
            &[],
        ),
        ("POOLED_ACC25__EVERY_KEY_SYNC_BARGING", "soon", &[]),
        (
            "POOLED_ACC25__EVERY_KEY_EXECUTOR",
            "gpu",
            &["default", "rayon"],
        ),
        (
            "POOLED_ACC25__EVERY_AUTO_POLICY",
            "greedy",
            &["adaptive", "queue_depth"],
        ),
        ("POOLED_ACC25__EVERY_AUTO_AUTOSCALE_INTERVAL", "0s", &[]),
        ("POOLED_ACC25__EVERY_AUTO_AUTOSCALE_WINDOW", "4097", &[]),
        ("POOLED_ACC25__EVERY_AUTO_MAX", "0", &[]),
        ("POOLED_ACC25__EVERY_AUTO_ADAPTIVE_TOLERANCE", "1.5", &[]),
        ("POOLED_CEILING", "0", &[]),
    ];
    for (name, value, choices) in cases {
        let err = config::load_env_from(vars(&[(name, value)])).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains(name), "{name}={value}: {shown}");
        for choice in *choices {
            assert!(
                shown.contains(choice),
                "{name}={value}: no `{choice}` in {shown}"
            );
        }
        assert_eq!(EVERY_KEY.settings().size, Some(2));
    }
    // Each key's good value on the environment surface reaches the settings.
    config::load_env_from(vars(&[
        ("POOLED_ACC25__EVERY_KEY_ORDER", "lifo"),
        ("POOLED_ACC25__EVERY_KEY_SIZE", "5"),
        ("POOLED_ACC25__EVERY_KEY_MAX_WAITING", "11"),
        ("POOLED_ACC25__EVERY_KEY_ADMISSION_TIMEOUT", "1500ms"),
        ("POOLED_ACC25__EVERY_KEY_SYNC_BARGING", "2ms"),
        ("POOLED_ACC25__EVERY_AUTO_MIN", "2"),
        ("POOLED_ACC25__EVERY_AUTO_MAX", "7"),
        ("POOLED_ACC25__EVERY_AUTO_AUTOSCALE_INTERVAL", "3s"),
        ("POOLED_ACC25__EVERY_AUTO_AUTOSCALE_WINDOW", "9"),
    ]))
    .unwrap();
    let s = EVERY_KEY.settings();
    assert_eq!(s.order, pool_runtime::Order::Lifo);
    assert_eq!(s.size, Some(5));
    assert_eq!(s.max_waiting, Some(11));
    assert_eq!(s.admission_timeout, Some(Duration::from_millis(1500)));
    assert_eq!(s.sync_barging, Some(Duration::from_millis(2)));
    let a = EVERY_AUTO.settings();
    assert_eq!((a.min, a.max), (Some(2), Some(7)));
    assert_eq!(a.autoscale.interval, Duration::from_secs(3));
    assert_eq!(a.autoscale.window, 9);
    config::clear();
}

// ---------------------------------------------------------------------------
// Precedence, with `none` and kind changes.
// ---------------------------------------------------------------------------

static LAYERED: Group = Group::new(
    GroupSpec::new("acc25::layered")
        .size(4)
        .max_waiting(3)
        .admission_timeout(Duration::from_secs(9)),
);
register_group!(LAYERED);

#[test]
fn each_layer_beats_the_weaker_ones_and_none_removes_a_bound() {
    let _turn = config_turn();
    let s = LAYERED.settings();
    assert_eq!((s.size, s.max_waiting), (Some(4), Some(3)));
    config::load_str(
        "p.toml",
        "[defaults]\nmax_waiting = 20\nadmission_timeout = \"1s\"\nsize = 6\n\
         [groups.\"acc25::layered\"]\nmax_waiting = 30\n",
    )
    .unwrap();
    let s = LAYERED.settings();
    assert_eq!(s.size, Some(6), "[defaults] beats the declaration");
    assert_eq!(s.max_waiting, Some(30), "the group table beats [defaults]");
    assert_eq!(s.admission_timeout, Some(Duration::from_secs(1)));
    config::load_env_from(vars(&[
        ("POOLED_ACC25__LAYERED_MAX_WAITING", "none"),
        ("POOLED_ACC25__LAYERED_ADMISSION_TIMEOUT", "none"),
        ("POOLED_ACC25__LAYERED_SIZE", "7"),
    ]))
    .unwrap();
    let s = LAYERED.settings();
    assert_eq!(s.size, Some(7), "the environment beats the file");
    assert_eq!(s.max_waiting, None, "`none` removes the file's bound");
    assert_eq!(
        s.admission_timeout, None,
        "`none` removes the [defaults] timeout"
    );
    // The environment stays when the file is reloaded.
    config::load_str("p.toml", "[groups.\"acc25::layered\"]\nsize = 2\n").unwrap();
    assert_eq!(LAYERED.settings().size, Some(7));
    // Kind changes set counts aside and bring them back.
    config::load_env_from(vars(&[])).unwrap();
    config::load_str(
        "p.toml",
        "[defaults]\nsize = 5\n[groups.\"acc25::layered\"]\nkind = \"autoscale\"\nmin = 1\nmax = 9\n",
    )
    .unwrap();
    assert_eq!(LAYERED.settings().kind, Kind::Autoscale);
    config::load_env_from(vars(&[("POOLED_ACC25__LAYERED_KIND", "fixed")])).unwrap();
    let s = LAYERED.settings();
    assert_eq!(s.kind, Kind::Fixed);
    assert_eq!(s.size, Some(5), "the [defaults] size beats the declared 4");
    config::load_str(
        "p.toml",
        "[groups.\"acc25::layered\"]\nkind = \"autoscale\"\nmin = 1\nmax = 9\n",
    )
    .unwrap();
    assert_eq!(
        LAYERED.settings().size,
        Some(4),
        "the declared size comes back"
    );
    config::clear();
}

// ---------------------------------------------------------------------------
// Reload racing calls: concurrency counted from outside stays within the
// larger of the old and new limits, and within the new one once the calls
// admitted under the old have ended.
// ---------------------------------------------------------------------------

static RACED: Group = Group::new(GroupSpec::new("acc25::raced").size(3));
register_group!(RACED);

#[test]
fn reloads_racing_sync_and_async_calls_never_exceed_the_larger_limit() {
    let _turn = config_turn();
    let meter = Meter::default();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    within(WATCHDOG, {
        let (meter, stop) = (meter.clone(), stop.clone());
        move || {
            let rt = common::runtime();
            let mut tasks = Vec::new();
            for _ in 0..6 {
                let (meter, stop) = (meter.clone(), stop.clone());
                tasks.push(rt.spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        RACED
                            .submit(0, async {
                                let _in = meter.enter();
                                tokio::task::yield_now().await;
                            })
                            .await
                            .unwrap();
                    }
                }));
            }
            let mut threads = Vec::new();
            for _ in 0..3 {
                let (meter, stop) = (meter.clone(), stop.clone());
                threads.push(std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        RACED
                            .run(|| {
                                let _in = meter.enter();
                                std::hint::spin_loop();
                            })
                            .unwrap();
                    }
                }));
            }
            for round in 0..60 {
                let size = [3, 1, 2][round % 3];
                config::load_str(
                    "race.toml",
                    &format!("[groups.\"acc25::raced\"]\nsize = {size}\n"),
                )
                .unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            for t in threads {
                t.join().unwrap();
            }
            for t in tasks {
                rt.block_on(t).unwrap();
            }
        }
    });
    assert!(meter.max() <= 3, "peak {}", meter.max());
    assert!(meter.done() > 0);
    // Now at 1: the meter sees one at a time.
    config::load_str("race.toml", "[groups.\"acc25::raced\"]\nsize = 1\n").unwrap();
    let after = Meter::default();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let after = after.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    RACED
                        .run(|| {
                            let _in = after.enter();
                            std::thread::yield_now();
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(after.max(), 1);
    config::clear();
}

// ---------------------------------------------------------------------------
// Isolation (feature `test-util`).
// ---------------------------------------------------------------------------

#[cfg(feature = "test-util")]
static ISOLATED: Group = Group::new(GroupSpec::new("acc25::isolated").size(2));
#[cfg(feature = "test-util")]
register_group!(ISOLATED);

/// "A test can pause or close its instance freely: the next test isolates a
/// fresh, open one"; the shared pool never sees it.
#[cfg(feature = "test-util")]
#[test]
fn a_closed_instance_is_replaced_by_a_fresh_open_one_and_the_shared_pool_stays_open() {
    let shared_before = ISOLATED.stats().submitted();
    {
        let _mine = ISOLATED.isolate();
        assert_eq!(ISOLATED.run(|| 1), Ok(1));
        ISOLATED.pool().close();
        assert!(ISOLATED.pool().is_closed());
        assert_eq!(ISOLATED.run(|| 2), Err(Rejected::Closed));
        ISOLATED.scale(5);
        assert_eq!(ISOLATED.size(), 7);
    }
    assert!(!ISOLATED.pool().is_closed(), "the shared pool was closed");
    assert_eq!(ISOLATED.size(), 2, "the shared pool was scaled");
    {
        let _next = ISOLATED.isolate();
        assert!(!ISOLATED.pool().is_closed());
        assert_eq!(ISOLATED.pool().stats().submitted(), 0, "a fresh instance");
        assert_eq!(ISOLATED.run(|| 3), Ok(3));
        assert_eq!(ISOLATED.size(), 2);
    }
    assert_eq!(ISOLATED.run(|| 4), Ok(4));
    assert_eq!(ISOLATED.stats().submitted(), shared_before + 1);
}

#[cfg(feature = "test-util")]
static ISOLATED_KIND: Group = Group::new(GroupSpec::new("acc25::isolated_kind").size(2));
#[cfg(feature = "test-util")]
register_group!(ISOLATED_KIND);

/// An instance starts "with the group's effective settings (those a start
/// would take now ...: after a reload that changed the kind, order, policy
/// or executor of a running group, the loaded ones)".
#[cfg(feature = "test-util")]
#[test]
fn an_instance_made_after_a_reload_that_changed_the_kind_takes_the_loaded_kind() {
    let _turn = config_turn();
    assert_eq!(ISOLATED_KIND.pool().kind(), Kind::Fixed);
    let report = config::load_str(
        "k.toml",
        "[groups.\"acc25::isolated_kind\"]\nkind = \"autoscale\"\norder = \"lifo\"\nmin = 1\nmax = 6\n",
    )
    .unwrap();
    assert_eq!(
        change(&report, "acc25::isolated_kind", "kind").map(|c| c.effect),
        Some(Effect::AtRestart),
        "{report:?}"
    );
    assert_eq!(
        ISOLATED_KIND.pool().kind(),
        Kind::Fixed,
        "the running pool keeps its kind"
    );
    {
        let _mine = ISOLATED_KIND.isolate();
        assert_eq!(ISOLATED_KIND.pool().kind(), Kind::Autoscale);
        assert_eq!(ISOLATED_KIND.pool().order(), pool_runtime::Order::Lifo);
        assert_eq!(ISOLATED_KIND.pool().bounds(), (1, 6));
    }
    config::clear();
}

/// "Listing, `Group::settings` and configuration reloads see the shared
/// pool": a reload while a test's instance is in force resizes the shared
/// pool, not the instance.
#[cfg(feature = "test-util")]
static ISOLATED_RELOAD: Group = Group::new(GroupSpec::new("acc25::isolated_reload").size(2));
#[cfg(feature = "test-util")]
register_group!(ISOLATED_RELOAD);

#[cfg(feature = "test-util")]
#[test]
fn a_reload_while_isolated_resizes_the_shared_pool_not_the_instance() {
    let _turn = config_turn();
    assert_eq!(ISOLATED_RELOAD.size(), 2);
    let mine = ISOLATED_RELOAD.isolate();
    assert_eq!(ISOLATED_RELOAD.size(), 2);
    let report = config::load_str(
        "i.toml",
        "[groups.\"acc25::isolated_reload\"]\nsize = 5\nmax_waiting = 4\n",
    )
    .unwrap();
    assert!(change(&report, "acc25::isolated_reload", "size").is_some());
    assert_eq!(ISOLATED_RELOAD.size(), 2, "the instance keeps its size");
    assert_eq!(ISOLATED_RELOAD.pool().max_waiting(), None);
    let shared = std::thread::spawn(|| ISOLATED_RELOAD.size())
        .join()
        .unwrap();
    assert_eq!(shared, 5, "the shared pool took the reload");
    assert_eq!(ISOLATED_RELOAD.settings().size, Some(5));
    drop(mine);
    assert_eq!(ISOLATED_RELOAD.size(), 5);
    config::clear();
}

// ---------------------------------------------------------------------------
// tower (feature `tower`): concurrency counted at the inner service.
// ---------------------------------------------------------------------------

#[cfg(feature = "tower")]
mod tower_layer {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{Order, Pool};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, Service, ServiceExt};

    fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
        let waker = std::task::Waker::noop();
        Pin::new(fut).poll(&mut Context::from_waker(waker))
    }

    /// "dropping a `ready()` future leaves the service in the queue, and
    /// the next `poll_ready` goes on with that wait; a slot it is handed
    /// meanwhile stays reserved for the service's next call".
    #[test]
    fn a_slot_handed_to_a_dropped_ready_wait_stays_reserved_for_the_service() {
        let pool = Pool::builder().size(1).build().unwrap();
        let meter = Meter::default();
        let inner = {
            let meter = meter.clone();
            service_fn(move |n: u32| {
                let meter = meter.clone();
                async move {
                    let _in = meter.enter();
                    Ok::<_, BoxError>(n + 1)
                }
            })
        };
        let mut service = PooledLayer::pool(pool.clone()).layer(inner);
        let held = pool.try_acquire_owned(0).unwrap();
        {
            let mut ready = service.ready();
            assert!(poll_once(&mut ready).is_pending());
        }
        assert_eq!(pool.stats().waiting, 1, "the service stays in the queue");
        drop(held);
        assert_eq!(
            pool.stats().running,
            1,
            "the freed slot went to the service"
        );
        assert!(pool.try_acquire().is_err(), "and nobody else can take it");
        let mut ready = service.ready();
        assert!(poll_once(&mut ready).is_ready());
        let mut response = Box::pin(service.call(1));
        assert!(matches!(poll_once(&mut response), Poll::Ready(Ok(2))));
        assert_eq!(pool.stats().running, 0);
        assert_eq!(meter.max(), 1);
        common::assert_accounted(&pool.stats());
    }

    /// Dropping a service that waits in `poll_ready` leaves the queue at
    /// once; `into_inner` of a service holding a reserved slot releases it.
    #[test]
    fn a_waiting_service_dropped_and_a_ready_one_unwrapped_hold_nothing() {
        let pool = Pool::builder().size(1).build().unwrap();
        let inner = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
        let layer = PooledLayer::pool(pool.clone());
        let mut first = layer.layer(inner);
        let mut second = first.clone();
        assert!(poll_once(&mut first.ready()).is_ready());
        assert_eq!(pool.stats().running, 1);
        assert!(poll_once(&mut second.ready()).is_pending());
        assert_eq!(pool.stats().waiting, 1);
        drop(second);
        assert_eq!(pool.stats().waiting, 0, "left the queue at once");
        let _inner = first.into_inner();
        assert_eq!(pool.stats().running, 0, "the reserved slot was released");
        assert!(pool.try_acquire().is_ok());
        common::assert_accounted(&pool.stats());
    }

    /// Many concurrent callers through clones of one service (waiting
    /// mode), through a weighted layer and through reject mode: the inner
    /// service never sees more than the pool's size.
    #[test]
    fn every_mode_keeps_the_inner_services_concurrency_within_the_pool() {
        within(WATCHDOG, || {
            let rt = common::runtime();
            rt.block_on(async {
                for mode in ["wait", "weighted", "reject", "weighted-reject"] {
                    let pool = Pool::builder()
                        .order(Order::Priority)
                        .size(2)
                        .build()
                        .unwrap();
                    let meter = Meter::default();
                    let inner = {
                        let meter = meter.clone();
                        service_fn(move |n: i64| {
                            let meter = meter.clone();
                            async move {
                                let _in = meter.enter();
                                tokio::time::sleep(Duration::from_millis(2)).await;
                                Ok::<_, BoxError>(n)
                            }
                        })
                    };
                    let layer = PooledLayer::pool(pool.clone());
                    let mut joins = Vec::new();
                    for i in 0..24i64 {
                        let fut = match mode {
                            "wait" => {
                                let s = layer.clone().layer(inner.clone());
                                tokio::spawn(s.oneshot(i))
                            }
                            "weighted" => {
                                let s = layer.clone().weight(|n: &i64| *n % 3).layer(inner.clone());
                                tokio::spawn(s.oneshot(i))
                            }
                            "reject" => {
                                let s = layer.clone().reject().layer(inner.clone());
                                tokio::spawn(s.oneshot(i))
                            }
                            _ => {
                                let s = layer
                                    .clone()
                                    .reject()
                                    .weight(|n: &i64| *n % 3)
                                    .layer(inner.clone());
                                tokio::spawn(s.oneshot(i))
                            }
                        };
                        joins.push(fut);
                    }
                    let (mut ok, mut full) = (0, 0);
                    for j in joins {
                        match j.await.unwrap() {
                            Ok(_) => ok += 1,
                            Err(e) => {
                                assert_eq!(
                                    e.downcast_ref::<Rejected>(),
                                    Some(&Rejected::Full),
                                    "{mode}: {e}"
                                );
                                assert!(mode.contains("reject"), "{mode}: {e}");
                                full += 1;
                            }
                        }
                    }
                    assert_eq!(ok + full, 24);
                    assert!(ok >= 1, "{mode}");
                    assert!(meter.max() <= 2, "{mode}: peak {}", meter.max());
                    let stats = pool.stats();
                    assert_eq!((stats.running, stats.waiting), (0, 0), "{mode}");
                    assert_eq!(stats.rejected_for(Rejected::Full), full, "{mode}");
                    common::assert_accounted(&stats);
                }
            })
        });
    }

    /// Weighted: "A slot whose inner service fails to get ready is released
    /// the same way: the service was never called"; the error is the inner
    /// service's.
    #[test]
    fn a_weighted_call_whose_inner_service_fails_readiness_releases_its_slot() {
        #[derive(Clone)]
        struct NeverReady(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl Service<i64> for NeverReady {
            type Response = i64;
            type Error = BoxError;
            type Future = std::future::Ready<Result<i64, BoxError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                Poll::Ready(Err("inner not ready".into()))
            }
            fn call(&mut self, n: i64) -> Self::Future {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::future::ready(Ok(n))
            }
        }
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let service = PooledLayer::pool(pool.clone())
            .weight(|n: &i64| *n)
            .layer(NeverReady(calls.clone()));
        let err = futures::executor::block_on(service.oneshot(3)).unwrap_err();
        assert_eq!(err.to_string(), "inner not ready");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0));
        assert!(pool.try_acquire().is_ok(), "the slot was released");
        common::assert_accounted(&pool.stats());
    }

    /// A refusal fails one call and the service stays usable (paused, then
    /// resumed; reject mode while full, then free).
    #[test]
    fn a_refused_call_leaves_the_service_usable_in_both_modes() {
        let pool = Pool::builder().size(1).build().unwrap();
        let inner = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
        for reject in [false, true] {
            let layer = PooledLayer::pool(pool.clone());
            let mut service = if reject { layer.reject() } else { layer }.layer(inner);
            pool.pause();
            assert!(poll_once(&mut service.ready()).is_ready());
            let err = futures::executor::block_on(service.call(1)).unwrap_err();
            assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
            pool.resume();
            if reject {
                let held = pool.try_acquire_owned(0).unwrap();
                assert!(poll_once(&mut service.ready()).is_ready());
                let err = futures::executor::block_on(service.call(2)).unwrap_err();
                assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Full));
                drop(held);
            }
            assert!(poll_once(&mut service.ready()).is_ready());
            assert_eq!(futures::executor::block_on(service.call(3)).unwrap(), 3);
            assert_eq!(pool.stats().running, 0);
        }
        common::assert_accounted(&pool.stats());
    }
}

// ---------------------------------------------------------------------------
// Kinds and counts on a running pool; bounds set by hand.
// ---------------------------------------------------------------------------

static KIND_FLIP: Group = Group::new(GroupSpec::new("acc25::kind_flip").size(2));
register_group!(KIND_FLIP);

/// "A running pool keeps its kind until it restarts: a load that changes
/// the kind changes nothing in it, and one that brings its kind back
/// resizes it only if that kind's counts changed."
#[test]
fn a_load_that_changes_a_running_pools_kind_changes_nothing_in_it() {
    let _turn = config_turn();
    assert_eq!(KIND_FLIP.size(), 2);
    assert_eq!(KIND_FLIP.scale(2), 4, "a manual scale");
    let report = config::load_str(
        "k.toml",
        "[groups.\"acc25::kind_flip\"]\nkind = \"autoscale\"\nsize = 7\nmin = 1\nmax = 9\n",
    )
    .unwrap();
    assert_eq!(
        change(&report, "acc25::kind_flip", "kind").map(|c| c.effect),
        Some(Effect::AtRestart),
        "{report:?}"
    );
    assert_eq!(KIND_FLIP.pool().kind(), Kind::Fixed);
    assert_eq!(
        KIND_FLIP.size(),
        4,
        "the autoscaled start is not the fixed pool's size"
    );
    assert_eq!(KIND_FLIP.pool().bounds(), (0, pool_runtime::MAX_SLOTS));
    // Back to fixed with the same counts: no resize (the manual scale stays).
    config::load_str("k.toml", "ceiling = 100\n").unwrap();
    assert_eq!(KIND_FLIP.size(), 4, "the fixed counts did not change");
    // A fixed count that changes resizes.
    config::load_str("k.toml", "[groups.\"acc25::kind_flip\"]\nsize = 3\n").unwrap();
    assert_eq!(KIND_FLIP.size(), 3);
    config::clear();
}

static HAND_BOUNDS: Group = Group::new(
    GroupSpec::new("acc25::hand_bounds")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .size(2),
);
register_group!(HAND_BOUNDS);

/// "Bounds set by hand (`set_bounds` on a group's pool) last until a reload
/// changes the group's configured bounds: it then sets both from the
/// configuration (its report names the configured bound that changed)."
#[test]
fn bounds_set_by_hand_last_until_a_reload_changes_the_configured_bounds() {
    let _turn = config_turn();
    assert_eq!(HAND_BOUNDS.pool().bounds(), (1, 4));
    HAND_BOUNDS.pool().set_bounds(2, 6).unwrap();
    assert_eq!(HAND_BOUNDS.pool().bounds(), (2, 6));
    config::load_str(
        "b.toml",
        "[groups.\"acc25::hand_bounds\"]\nmax_waiting = 50\n",
    )
    .unwrap();
    assert_eq!(
        HAND_BOUNDS.pool().bounds(),
        (2, 6),
        "nothing new about bounds"
    );
    let report = config::load_str(
        "b.toml",
        "[groups.\"acc25::hand_bounds\"]\nmax_waiting = 50\nmax = 5\n",
    )
    .unwrap();
    assert_eq!(
        HAND_BOUNDS.pool().bounds(),
        (1, 5),
        "both from the configuration"
    );
    let max = change(&report, "acc25::hand_bounds", "max").expect("max in the report");
    assert_eq!(
        (max.from.as_str(), max.to.as_str()),
        ("4", "5"),
        "{report:?}"
    );
    assert!(
        change(&report, "acc25::hand_bounds", "min").is_none(),
        "min did not change in the configuration: {report:?}"
    );
    config::clear();
}

static START_CLAMPED: Group = Group::new(
    GroupSpec::new("acc25::start_clamped")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(3),
);
register_group!(START_CLAMPED);

/// "`max = 2` for a group declared to start at 3 is no error, and it starts
/// at 2 ...; a `size` a file or variable gives outside the bounds is an
/// error at it."
#[test]
fn a_declared_start_is_brought_into_loaded_bounds_and_a_loaded_one_is_checked() {
    let _turn = config_turn();
    config::load_str("s.toml", "[groups.\"acc25::start_clamped\"]\nmax = 2\n").unwrap();
    let s = START_CLAMPED.settings();
    assert_eq!((s.size, s.max), (Some(2), Some(2)), "{s:?}");
    assert!(s.check().is_ok());
    let err = config::load_str(
        "s.toml",
        "[groups.\"acc25::start_clamped\"]\nmax = 2\nsize = 5\n",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("s.toml:3:8:"), "{err}");
    let err =
        config::load_env_from(vars(&[("POOLED_ACC25__START_CLAMPED_SIZE", "9")])).unwrap_err();
    assert!(
        err.to_string().contains("POOLED_ACC25__START_CLAMPED_SIZE"),
        "{err}"
    );
    assert_eq!(
        START_CLAMPED.settings().size,
        Some(2),
        "the bad loads changed nothing"
    );
    config::clear();
}

// ---------------------------------------------------------------------------
// Environment variables: misspelt groups, ignored variables, `POOLED_CONFIG`.
// ---------------------------------------------------------------------------

#[test]
fn a_variable_for_a_misspelt_group_fails_with_a_suggestion_and_an_unrelated_one_is_ignored() {
    let _turn = config_turn();
    let err = config::load_env_from(vars(&[("POOLED_ACC25__EVERY_KEYS_SIZE", "3")])).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("POOLED_ACC25__EVERY_KEYS_SIZE"), "{shown}");
    assert!(
        shown.contains("did you mean `POOLED_ACC25__EVERY_KEY_SIZE`"),
        "no suggestion: {shown}"
    );
    // Not ending in a setting's name: ignored (a warning), the load goes on.
    config::load_env_from(vars(&[
        ("POOLED_DB_URL", "postgres://x"),
        ("POOLED_ACC25__EVERY_KEY_SIZE", "6"),
    ]))
    .unwrap();
    assert_eq!(EVERY_KEY.settings().size, Some(6));
    config::clear();
}

static FROM_ENV: Group = Group::new(GroupSpec::new("acc25::from_env").size(2));
register_group!(FROM_ENV);

/// "`POOLED_CONFIG` (if set; set to the empty string it names no file, as
/// if unset) and the `POOLED_*` variables are read" at the first use of any
/// group; `POOLED_CEILING=N`.
#[test]
fn an_empty_pooled_config_names_no_file_and_the_variables_still_apply() {
    common::in_own_process(
        "an_empty_pooled_config_names_no_file_and_the_variables_still_apply",
        &[
            ("POOLED_CONFIG", ""),
            ("POOLED_ACC25__FROM_ENV_SIZE", "5"),
            ("POOLED_ACC25__FROM_ENV_ADMISSION_TIMEOUT", "none"),
            ("POOLED_CEILING", "4"),
        ],
        || {
            assert_eq!(FROM_ENV.size(), 5);
            assert_eq!(FROM_ENV.pool().admission_timeout(), None);
            let meter = Meter::default();
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let meter = meter.clone();
                    std::thread::spawn(move || {
                        for _ in 0..20 {
                            FROM_ENV
                                .run(|| {
                                    let _in = meter.enter();
                                    std::thread::sleep(Duration::from_micros(200));
                                })
                                .unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert!(meter.max() <= 4, "the ceiling of 4: peak {}", meter.max());
        },
    );
}

// ---------------------------------------------------------------------------
// metrics (feature `metrics`), in a process of its own (a global recorder
// installed before any pool is built).
// ---------------------------------------------------------------------------

#[cfg(feature = "metrics")]
static METERED: Group = Group::new(
    GroupSpec::new("acc25::metered")
        .size(2)
        .sync_barging(Duration::from_millis(300)),
);
#[cfg(feature = "metrics")]
register_group!(METERED);

/// The `pool`-labelled gauges follow reloads (`pooled.limit`), count a sync
/// call waiting outside the queue as waiting (it "count[s] as waiting"), a
/// timed-out call is `outcome="rejected", reason="timed_out"`, and the
/// ceiling reports as `(ceiling)`.
#[cfg(feature = "metrics")]
#[test]
fn gauges_and_counters_follow_reloads_barging_callers_and_the_ceiling() {
    common::in_own_process(
        "gauges_and_counters_follow_reloads_barging_callers_and_the_ceiling",
        &[],
        || {
            let capture: &'static common::Capture = Box::leak(Box::default());
            metrics::set_global_recorder(capture).expect("the only recorder");
            pool_runtime::observe::time_calls(true);
            let name = "acc25::metered";
            assert_eq!(METERED.size(), 2);
            assert_eq!(capture.gauge("pooled.limit", name), Some(2.0));
            config::load_str("m.toml", "[groups.\"acc25::metered\"]\nsize = 1\n").unwrap();
            assert_eq!(capture.gauge("pooled.limit", name), Some(1.0));

            let held = METERED.pool().try_acquire_owned(0).unwrap();
            assert_eq!(capture.gauge("pooled.running", name), Some(1.0));
            let (tx, rx) = mpsc::channel();
            let waiter = std::thread::spawn(move || {
                let _ = tx.send(METERED.run(|| 1));
            });
            until("the barging call waits", || METERED.stats().waiting == 1);
            assert_eq!(
                capture.gauge("pooled.waiting", name),
                Some(1.0),
                "a sync call waiting outside the queue counts as waiting"
            );
            // Into the queue past its bound: still one waiting.
            std::thread::sleep(Duration::from_millis(450));
            assert_eq!(capture.gauge("pooled.waiting", name), Some(1.0));
            drop(held);
            assert_eq!(rx.recv_timeout(WATCHDOG).expect("hung"), Ok(1));
            waiter.join().unwrap();
            until("quiet gauges", || {
                capture.gauge("pooled.waiting", name) == Some(0.0)
                    && capture.gauge("pooled.running", name) == Some(0.0)
            });
            let waits = capture
                .histograms
                .lock()
                .unwrap()
                .get(&format!("pooled.wait_time{{pool={name}}}"))
                .map(|h| h.0.lock().unwrap().clone())
                .unwrap_or_default();
            assert!(
                waits.iter().any(|&w| w >= 0.3),
                "the barging call's wait (> 300 ms) is in pooled.wait_time: {waits:?}"
            );

            // A timeout loaded at run time.
            config::load_str(
                "m.toml",
                "[groups.\"acc25::metered\"]\nsize = 1\nadmission_timeout = \"200ms\"\nsync_barging = \"0s\"\n",
            )
            .unwrap();
            assert_eq!(METERED.pool().sync_barging(), None, "\"0s\" turns it off");
            let held = METERED.pool().try_acquire_owned(0).unwrap();
            assert_eq!(METERED.run(|| 2), Err(Rejected::TimedOut));
            drop(held);
            assert_eq!(capture.calls(name, "rejected", Some("timed_out")), 1);
            // Two permits and one sync call.
            assert_eq!(capture.calls(name, "completed", None), 3);

            // The ceiling reports under `(ceiling)`.
            config::load_str("m.toml", "ceiling = 7\n").unwrap();
            assert_eq!(METERED.run(|| 3), Ok(3));
            assert_eq!(capture.gauge("pooled.limit", "(ceiling)"), Some(7.0));
            config::load_str("m.toml", "ceiling = 3\n").unwrap();
            assert_eq!(capture.gauge("pooled.limit", "(ceiling)"), Some(3.0));
            // The group's table went away: back to its declared 2 slots.
            assert_eq!(capture.gauge("pooled.limit", name), Some(2.0));
        },
    );
}

// ---------------------------------------------------------------------------
// The ceiling and loaded bounds: "a group's `max_waiting = 0` and admission
// timeout bound its calls' wait for a ceiling slot ... (never-rejecting
// calls wait)"; a paused group turns a call away before the ceiling.
// ---------------------------------------------------------------------------

static CEIL_HOLDER: Group = Group::new(GroupSpec::new("acc25::ceil_holder").size(2));
register_group!(CEIL_HOLDER);
static CEIL_BOUNDED: Group = Group::new(GroupSpec::new("acc25::ceil_bounded").size(2));
register_group!(CEIL_BOUNDED);

#[test]
fn loaded_bounds_limit_the_ceiling_wait_of_rejecting_calls_only() {
    let _turn = config_turn();
    config::load_str(
        "c.toml",
        "ceiling = 1\n[groups.\"acc25::ceil_bounded\"]\nadmission_timeout = \"150ms\"\n",
    )
    .unwrap();
    let held = CEIL_HOLDER.try_acquire_owned(0).unwrap();
    assert_eq!(pool_runtime::ceiling::stats().unwrap().running, 1);
    // A rejecting call times out waiting for the ceiling.
    let started = Instant::now();
    assert_eq!(CEIL_BOUNDED.run(|| 0), Err(Rejected::TimedOut));
    assert!(started.elapsed() >= Duration::from_millis(100));
    // A paused group turns its call away at once, before the ceiling.
    CEIL_BOUNDED.pause();
    assert_eq!(CEIL_BOUNDED.run(|| 0), Err(Rejected::Paused));
    CEIL_BOUNDED.resume();
    // `max_waiting = 0` loaded: no wait for the ceiling either.
    config::load_str(
        "c.toml",
        "ceiling = 1\n[groups.\"acc25::ceil_bounded\"]\nmax_waiting = 0\n",
    )
    .unwrap();
    assert_eq!(CEIL_BOUNDED.run(|| 0), Err(Rejected::Full));
    config::load_str(
        "c.toml",
        "ceiling = 1\n[groups.\"acc25::ceil_bounded\"]\nmax_waiting = 0\nadmission_timeout = \"100ms\"\n",
    )
    .unwrap();
    // Never-rejecting calls wait for the ceiling past both.
    let meter = Meter::default();
    let (tx, rx) = mpsc::channel();
    let sync_tx = tx.clone();
    let sync_meter = meter.clone();
    let sync_waiter = std::thread::spawn(move || {
        let _ = sync_tx.send(CEIL_BOUNDED.run_wait(0, || {
            let _in = sync_meter.enter();
            std::thread::sleep(Duration::from_millis(5));
            1
        }));
    });
    let rt = common::runtime();
    let async_meter = meter.clone();
    rt.spawn(async move {
        let out = CEIL_BOUNDED
            .submit_wait(0, async {
                let _in = async_meter.enter();
                tokio::time::sleep(Duration::from_millis(5)).await;
                2
            })
            .await;
        let _ = tx.send(out);
    });
    until("two calls wait for the ceiling", || {
        pool_runtime::ceiling::stats().unwrap().waiting == 2
    });
    std::thread::sleep(Duration::from_millis(400));
    assert!(rx.try_recv().is_err(), "a never-rejecting call gave up");
    drop(held);
    let mut got: Vec<i32> = (0..2)
        .map(|_| rx.recv_timeout(WATCHDOG).expect("hung"))
        .collect();
    got.sort();
    assert_eq!(got, vec![1, 2]);
    assert_eq!(meter.max(), 1, "the ceiling of 1 held");
    sync_waiter.join().unwrap();
    config::clear();
}

// ---------------------------------------------------------------------------
// `executor`: "takes effect at a group's next start"; an isolated instance
// starts with the loaded one.
// ---------------------------------------------------------------------------

#[cfg(all(feature = "rayon", feature = "test-util"))]
static EXEC_SWITCH: Group = Group::new(GroupSpec::new("acc25::exec_switch").size(2));
#[cfg(all(feature = "rayon", feature = "test-util"))]
register_group!(EXEC_SWITCH);

#[cfg(all(feature = "rayon", feature = "test-util"))]
#[test]
fn a_loaded_executor_waits_for_a_start_and_an_instance_starts_with_it() {
    let _turn = config_turn();
    let rt = common::runtime();
    let on_rayon = || {
        rt.block_on(EXEC_SWITCH.submit_blocking(0, || rayon::current_thread_index().is_some()))
            .unwrap()
    };
    assert!(!on_rayon(), "the default executor");
    let report = config::load_str(
        "e.toml",
        "[groups.\"acc25::exec_switch\"]\nexecutor = \"rayon\"\n",
    )
    .unwrap();
    assert_eq!(
        change(&report, "acc25::exec_switch", "executor").map(|c| c.effect),
        Some(Effect::AtRestart),
        "{report:?}"
    );
    assert!(!on_rayon(), "the running pool keeps its executor");
    let probe = || {
        rt.block_on(async {
            let _mine = EXEC_SWITCH.isolate();
            EXEC_SWITCH
                .submit_blocking(0, || rayon::current_thread_index().is_some())
                .await
                .unwrap()
        })
    };
    assert!(probe(), "an instance starts with the loaded executor");
    config::clear();
}

// ---------------------------------------------------------------------------
// `[defaults]` serves every kind: `size` for fixed groups, `min`/`max` and
// `policy` for autoscaled ones, `adaptive_*` for adaptive ones; a group
// table's adaptive parameter on a non-adaptive group is an error at it.
// ---------------------------------------------------------------------------

static DEF_FIXED: Group = Group::new(GroupSpec::new("acc25::def_fixed").size(2));
register_group!(DEF_FIXED);
static DEF_AUTO: Group = Group::new(
    GroupSpec::new("acc25::def_auto")
        .kind(Kind::Autoscale)
        .min(1)
        .max(3),
);
register_group!(DEF_AUTO);

#[test]
fn one_defaults_table_serves_every_kind_and_policy() {
    let _turn = config_turn();
    config::load_str(
        "d.toml",
        "[defaults]\nsize = 6\nmin = 2\nmax = 5\npolicy = \"adaptive\"\nadaptive_tolerance = 1.7\n",
    )
    .unwrap();
    let fixed = DEF_FIXED.settings();
    assert_eq!(fixed.kind, Kind::Fixed);
    assert_eq!(
        (fixed.size, fixed.min, fixed.max),
        (Some(6), None, None),
        "{fixed:?}"
    );
    assert!(matches!(
        fixed.policy,
        pool_runtime::ScalePolicy::QueueDepth
    ));
    let auto = DEF_AUTO.settings();
    assert_eq!((auto.min, auto.max), (Some(2), Some(5)), "{auto:?}");
    match auto.policy {
        pool_runtime::ScalePolicy::Adaptive(a) => assert_eq!(a.tolerance, 1.7),
        other => panic!("not adaptive: {other:?}"),
    }
    // A group table's parameter on a group that is not adaptive: an error
    // at the parameter.
    let err = config::load_str(
        "d.toml",
        "[groups.\"acc25::def_auto\"]\nmin = 1\nadaptive_tolerance = 1.5\n",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("d.toml:3:22:"), "{err}");
    // The same in a variable.
    let err = config::load_env_from(vars(&[("POOLED_ACC25__DEF_FIXED_ADAPTIVE_BACKOFF", "0.5")]))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("POOLED_ACC25__DEF_FIXED_ADAPTIVE_BACKOFF"),
        "{err}"
    );
    // A `[defaults]` parameter out of range is refused though no group is
    // adaptive.
    let err = config::load_str("d.toml", "[defaults]\nadaptive_smoothing = 1.5\n").unwrap_err();
    assert!(err.to_string().starts_with("d.toml:2:22:"), "{err}");
    // The first load stands.
    assert_eq!(DEF_FIXED.settings().size, Some(6));
    config::clear();
}

// ---------------------------------------------------------------------------
// Odd values never panic: each is an error at its place.
// ---------------------------------------------------------------------------

#[test]
fn odd_values_in_a_file_and_variables_are_errors_at_their_place_never_panics() {
    let _turn = config_turn();
    let values: &[(&str, &str)] = &[
        ("size", "1.5"),
        ("size", "true"),
        ("size", "-1"),
        ("size", "18446744073709551616"),
        ("size", "[1]"),
        ("max_waiting", "\"NONE!\""),
        ("max_waiting", "-3"),
        ("admission_timeout", "5"),
        ("admission_timeout", "\"\""),
        ("admission_timeout", "\"99999999999999999999999s\""),
        (
            "admission_timeout",
            "\"18446744073709551615s999999999999ns\"",
        ),
        ("admission_timeout", "\"-2s\""),
        ("admission_timeout", "\"2 s\""),
        ("sync_barging", "\"none please\""),
        ("kind", "\"\""),
        ("order", "1"),
        ("executor", "{ a = 1 }"),
        ("autoscale_interval", "\"1x\""),
    ];
    for (key, value) in values {
        let text = format!("[groups.\"acc25::every_key\"]\n{key} = {value}\n");
        let out = std::panic::catch_unwind(|| config::load_str("odd.toml", &text));
        let err = match out {
            Err(_) => panic!("`{key} = {value}` panicked the load"),
            Ok(Ok(_)) => panic!("`{key} = {value}` was accepted"),
            Ok(Err(err)) => err,
        };
        assert!(
            err.to_string().starts_with("odd.toml:2:"),
            "`{key} = {value}`: {err}"
        );
        let env_value = value.trim_matches('"');
        let name = format!("POOLED_ACC25__EVERY_KEY_{}", key.to_uppercase());
        let out =
            std::panic::catch_unwind(|| config::load_env_from(vars(&[(name.as_str(), env_value)])));
        match out {
            Err(_) => panic!("{name}={env_value} panicked the load"),
            Ok(Ok(_)) => {
                // Some spellings are fine as a variable (no TOML quoting):
                // then the value must have reached the settings checked.
                assert!(EVERY_KEY.settings().check().is_ok(), "{name}={env_value}");
                config::load_env_from(vars(&[])).unwrap();
            }
            Ok(Err(err)) => assert!(err.to_string().contains(&name), "{name}: {err}"),
        }
    }
    let out = std::panic::catch_unwind(|| {
        config::load_env_from(vars(&[("POOLED_ACC25__EVERY_KEY_SIZE", "")]))
    });
    assert!(out.is_ok(), "an empty variable panicked the load");
    assert_eq!(EVERY_KEY.settings().size, Some(2));
    config::clear();
}

/// `"none"` in `[defaults]` removes the declaration's bound too.
#[test]
fn none_in_the_defaults_table_removes_a_declared_bound() {
    let _turn = config_turn();
    config::load_str(
        "n.toml",
        "[defaults]\nadmission_timeout = \"none\"\nmax_waiting = \"none\"\n",
    )
    .unwrap();
    let s = LAYERED.settings();
    assert_eq!((s.max_waiting, s.admission_timeout), (None, None), "{s:?}");
    config::clear();
    let s = LAYERED.settings();
    assert_eq!(s.max_waiting, Some(3));
}

/// Sync barging: "callers outside the queue count as waiting (a pause or a
/// close leaves them waiting, as queued calls)".
#[test]
fn a_pause_or_a_close_leaves_a_barging_sync_caller_waiting() {
    for close in [false, true] {
        let pool = pool_runtime::Pool::builder()
            .size(1)
            .sync_barging(Duration::from_millis(300))
            .build()
            .unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let (tx, rx) = mpsc::channel();
        let caller = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let _ = tx.send(pool.run(|| 1));
            })
        };
        until("the sync call waits", || pool.stats().waiting == 1);
        if close {
            pool.close();
        } else {
            pool.pause();
        }
        // Past the barging bound: into the queue, still waiting.
        std::thread::sleep(Duration::from_millis(500));
        assert!(rx.try_recv().is_err(), "close={close}: turned away");
        assert_eq!(pool.stats().waiting, 1);
        if !close {
            pool.resume();
        }
        drop(held);
        assert_eq!(
            rx.recv_timeout(WATCHDOG).expect("hung"),
            Ok(1),
            "close={close}"
        );
        caller.join().unwrap();
        common::assert_accounted(&pool.stats());
    }
}

static SETTINGS_KIND: Group = Group::new(
    GroupSpec::new("acc25::settings_kind")
        .size(2)
        .order(pool_runtime::Order::Fifo),
);
register_group!(SETTINGS_KIND);

/// `Group::settings`: "The settings in force: those applied to the running
/// pool"; the running shared pool "keeps its kind, order, policy and
/// executor until it restarts" (`Group::isolate`), and `groups()` lists
/// the same settings.
#[test]
fn a_running_groups_settings_keep_its_kind_and_order_after_a_load_that_changes_them() {
    let _turn = config_turn();
    assert_eq!(SETTINGS_KIND.size(), 2);
    config::load_str(
        "s.toml",
        "[groups.\"acc25::settings_kind\"]\nkind = \"autoscale\"\norder = \"lifo\"\nmin = 1\nmax = 6\nmax_waiting = 8\n",
    )
    .unwrap();
    let s = SETTINGS_KIND.settings();
    assert_eq!(s.kind, Kind::Fixed, "{s:?}");
    assert_eq!(s.order, pool_runtime::Order::Fifo, "{s:?}");
    assert_eq!(s.max_waiting, Some(8), "a limit is applied at once: {s:?}");
    assert!(s.check().is_ok(), "{s:?}");
    assert_eq!(SETTINGS_KIND.pool().kind(), Kind::Fixed);
    assert_eq!(SETTINGS_KIND.pool().order(), pool_runtime::Order::Fifo);
    let listed = pool_runtime::groups()
        .into_iter()
        .find(|g| g.name == "acc25::settings_kind")
        .expect("listed");
    assert_eq!(listed.settings, s);
    config::clear();
}

// ---------------------------------------------------------------------------
// tracing (feature `tracing`): a capturing subscriber on this thread.
// ---------------------------------------------------------------------------

#[cfg(feature = "tracing")]
mod traced {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    type Fields = BTreeMap<String, String>;

    #[derive(Clone, Debug)]
    struct SpanSeen {
        id: u64,
        name: &'static str,
        fields: Fields,
    }

    #[derive(Clone, Debug)]
    struct EventSeen {
        level: Level,
        fields: Fields,
        span: Option<u64>,
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<(Vec<SpanSeen>, Vec<EventSeen>)>>);

    struct Text<'a>(&'a mut Fields);

    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: LayerContext<'_, S>) {
            let mut fields = Fields::new();
            attrs.record(&mut Text(&mut fields));
            self.0.lock().unwrap().0.push(SpanSeen {
                id: id.into_u64(),
                name: attrs.metadata().name(),
                fields,
            });
        }
        fn on_record(&self, id: &Id, values: &Record<'_>, _: LayerContext<'_, S>) {
            let mut seen = self.0.lock().unwrap();
            if let Some(span) = seen.0.iter_mut().rev().find(|s| s.id == id.into_u64()) {
                values.record(&mut Text(&mut span.fields));
            }
        }
        fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
            let mut fields = Fields::new();
            event.record(&mut Text(&mut fields));
            let span = ctx.event_span(event).map(|s| s.id().into_u64());
            self.0.lock().unwrap().1.push(EventSeen {
                level: *event.metadata().level(),
                fields,
                span,
            });
        }
    }

    impl Capture {
        fn run<T>(&self, f: impl FnOnce() -> T) -> T {
            let subscriber = tracing_subscriber::registry().with(self.clone());
            tracing::subscriber::with_default(subscriber, f)
        }
        fn calls_of(&self, pool: &str) -> Vec<SpanSeen> {
            let seen = self.0.lock().unwrap();
            seen.0
                .iter()
                .filter(|s| {
                    s.name == "call" && s.fields.get("pool").map(String::as_str) == Some(pool)
                })
                .cloned()
                .collect()
        }
        fn events(&self, message: &str, pool: &str) -> Vec<EventSeen> {
            let seen = self.0.lock().unwrap();
            seen.1
                .iter()
                .filter(|e| {
                    e.fields.get("message").map(String::as_str) == Some(message)
                        && e.fields.get("pool").map(String::as_str) == Some(pool)
                })
                .cloned()
                .collect()
        }
    }

    static TRACED: Group = Group::new(GroupSpec::new("acc25::traced").size(2));
    register_group!(TRACED);

    /// A reload's limit change is an INFO `limit changed` event with
    /// `cause = reload`; a timeout it loaded rejects a call whose span ends
    /// `rejected` with a `call rejected` event (`reason = timed_out`) inside
    /// it; a plain call's span has every documented field.
    #[test]
    fn reloads_and_their_timeouts_are_traced_with_the_documented_fields() {
        let _turn = config_turn();
        let capture = Capture::default();
        capture.run(|| {
            assert_eq!(TRACED.run(|| 1), Ok(1));
            config::load_str(
                "t.toml",
                "[groups.\"acc25::traced\"]\nsize = 1\nadmission_timeout = \"100ms\"\n",
            )
            .unwrap();
            let held = TRACED.pool().try_acquire_owned(0).unwrap();
            assert_eq!(TRACED.run(|| 2), Err(Rejected::TimedOut));
            drop(held);
        });
        let changes = capture.events("limit changed", "acc25::traced");
        let reload = changes
            .iter()
            .find(|e| e.fields.get("cause").map(String::as_str) == Some("reload"))
            .unwrap_or_else(|| panic!("no reload limit change: {changes:?}"));
        assert_eq!(reload.level, Level::INFO);
        assert_eq!(
            reload.fields.get("from").map(String::as_str),
            Some("2"),
            "{reload:?}"
        );
        assert_eq!(
            reload.fields.get("to").map(String::as_str),
            Some("1"),
            "{reload:?}"
        );

        let calls = capture.calls_of("acc25::traced");
        let runs: Vec<_> = calls
            .iter()
            .filter(|s| s.fields.get("call").map(String::as_str) == Some("run"))
            .collect();
        assert_eq!(runs.len(), 2, "{calls:?}");
        let first = &runs[0].fields;
        // (`nested` is recorded "`true` if it ran under its parent's slot".)
        for field in ["pool", "call", "weight", "wait_us", "outcome"] {
            assert!(first.contains_key(field), "no `{field}` in {first:?}");
        }
        assert_eq!(first.get("outcome").map(String::as_str), Some("completed"));
        assert_ne!(first.get("nested").map(String::as_str), Some("true"));
        assert_eq!(first.get("wait_us").map(String::as_str), Some("0"));
        let second = runs[1];
        assert_eq!(
            second.fields.get("outcome").map(String::as_str),
            Some("rejected"),
            "{second:?}"
        );
        let rejected = capture.events("call rejected", "acc25::traced");
        assert_eq!(rejected.len(), 1, "{rejected:?}");
        assert_eq!(rejected[0].level, Level::DEBUG);
        assert_eq!(
            rejected[0].fields.get("reason").map(String::as_str),
            Some("timed_out")
        );
        assert_eq!(rejected[0].span, Some(second.id), "inside the call's span");
        let permits: Vec<_> = calls
            .iter()
            .filter(|s| s.fields.get("call").map(String::as_str) == Some("permit"))
            .collect();
        assert_eq!(permits.len(), 1, "{calls:?}");
        config::clear();
    }

    /// A tower layer in reject mode: the shed call is a rejected call with
    /// `reason = full`.
    #[cfg(feature = "tower")]
    #[test]
    fn a_call_shed_by_the_tower_layer_is_traced_as_rejected_full() {
        use pool_runtime::tower::{BoxError, PooledLayer};
        use tower::{service_fn, Layer, ServiceExt};
        let pool = pool_runtime::Pool::builder()
            .name("acc25::traced_tower")
            .size(1)
            .build()
            .unwrap();
        let capture = Capture::default();
        capture.run(|| {
            let held = pool.try_acquire_owned(0).unwrap();
            let service = PooledLayer::pool(pool.clone())
                .reject()
                .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
            let err = futures::executor::block_on(service.clone().oneshot(1)).unwrap_err();
            assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Full));
            drop(held);
            assert_eq!(futures::executor::block_on(service.oneshot(2)).unwrap(), 2);
        });
        let rejected = capture.events("call rejected", "acc25::traced_tower");
        assert_eq!(rejected.len(), 1, "{rejected:?}");
        assert_eq!(
            rejected[0].fields.get("reason").map(String::as_str),
            Some("full")
        );
        let outcomes: Vec<_> = capture
            .calls_of("acc25::traced_tower")
            .into_iter()
            .map(|s| s.fields.get("outcome").cloned().unwrap_or_default())
            .collect();
        assert!(outcomes.contains(&"rejected".to_owned()), "{outcomes:?}");
        assert_eq!(
            outcomes.iter().filter(|o| *o == "completed").count(),
            2,
            "the held permit and the served call: {outcomes:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Counts belong to a kind: bounds given where the group is fixed are refused
// where they are given, even if a stronger layer makes it autoscaled.
// ---------------------------------------------------------------------------

static KIND_COUNTS: Group = Group::new(
    GroupSpec::new("acc25::kind_counts")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(2),
);
register_group!(KIND_COUNTS);

#[test]
fn bounds_given_where_a_group_is_fixed_are_refused_there_and_counts_come_back_with_their_kind() {
    let _turn = config_turn();
    // Fixed by its table, then autoscaled again by the environment: the
    // declared autoscaled counts come back.
    config::load_str(
        "k.toml",
        "[groups.\"acc25::kind_counts\"]\nkind = \"fixed\"\nsize = 5\n",
    )
    .unwrap();
    let s = KIND_COUNTS.settings();
    assert_eq!((s.kind, s.size), (Kind::Fixed, Some(5)), "{s:?}");
    config::load_env_from(vars(&[("POOLED_ACC25__KIND_COUNTS_KIND", "autoscale")])).unwrap();
    let s = KIND_COUNTS.settings();
    assert_eq!(s.kind, Kind::Autoscale);
    assert_eq!((s.size, s.min, s.max), (Some(2), Some(1), Some(8)), "{s:?}");
    // Bounds in the fixed table: refused at the bound, though the
    // environment makes the group autoscaled.
    let err = config::load_str(
        "k.toml",
        "[groups.\"acc25::kind_counts\"]\nkind = \"fixed\"\nsize = 5\nmax = 6\n",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("k.toml:4:7:"), "{err}");
    // In the environment, where the file made it fixed.
    config::load_env_from(vars(&[])).unwrap();
    let err = config::load_env_from(vars(&[("POOLED_ACC25__KIND_COUNTS_MIN", "2")])).unwrap_err();
    assert!(
        err.to_string().contains("POOLED_ACC25__KIND_COUNTS_MIN"),
        "{err}"
    );
    // Next to `kind = "autoscale"` in the same layer: fine.
    config::load_env_from(vars(&[
        ("POOLED_ACC25__KIND_COUNTS_KIND", "autoscale"),
        ("POOLED_ACC25__KIND_COUNTS_MIN", "2"),
    ]))
    .unwrap();
    let s = KIND_COUNTS.settings();
    assert_eq!(
        (s.kind, s.min, s.max),
        (Kind::Autoscale, Some(2), Some(8)),
        "{s:?}"
    );
    config::clear();
}

// ---------------------------------------------------------------------------
// `config::watch`.
// ---------------------------------------------------------------------------

static WATCHED: Group = Group::new(GroupSpec::new("acc25::watched").size(2));
register_group!(WATCHED);

/// A file briefly gone is "an error passed once, not every `every`; the next
/// readable content is loaded and passed on even if it is what was loaded
/// before (a `Report` with no change)"; a panic in `on_reload` is caught and
/// the watch goes on; an `every` of zero is an error; after the guard drops
/// nothing is reloaded.
#[test]
fn a_watched_file_gone_for_a_while_is_one_error_and_its_return_is_reloaded() {
    let _turn = config_turn();
    common::quiet_planned_panics();
    let path = std::env::temp_dir().join(format!("pooled-acc25-watch-{}.toml", std::process::id()));
    let good = "[groups.\"acc25::watched\"]\nsize = 4\n";
    std::fs::write(&path, good).unwrap();
    assert!(config::watch(&path, Duration::ZERO, |_| {}).is_err());
    let (tx, rx) = mpsc::channel();
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let armed = armed.clone();
        config::watch(&path, Duration::from_millis(5), move |outcome| {
            let _ = tx.send(outcome.map(|report| report.is_empty()));
            if armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
                panic!("planned panic in on_reload");
            }
        })
        .unwrap()
    };
    assert_eq!(WATCHED.size(), 4);
    std::fs::remove_file(&path).unwrap();
    let gone = rx
        .recv_timeout(WATCHDOG)
        .expect("no error for the missing file");
    assert!(gone.is_err(), "{gone:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        rx.try_recv().is_err(),
        "the missing file was reported more than once"
    );
    assert_eq!(WATCHED.size(), 4, "a missing file changes nothing");
    // The same content back: passed on as a report with no change (and the
    // callback panics on it).
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    std::fs::write(&path, good).unwrap();
    assert_eq!(
        rx.recv_timeout(WATCHDOG).expect("the file's return"),
        Ok(true)
    );
    // The watch went on after the panic.
    std::fs::write(&path, "[groups.\"acc25::watched\"]\nsize = 3\n").unwrap();
    assert_eq!(rx.recv_timeout(WATCHDOG).expect("a change"), Ok(false));
    assert_eq!(WATCHED.size(), 3);
    drop(watch);
    std::fs::write(&path, "[groups.\"acc25::watched\"]\nsize = 7\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(WATCHED.size(), 3, "no reload after the guard dropped");
    let _ = std::fs::remove_file(&path);
    config::clear();
}

// ---------------------------------------------------------------------------
// Streams through a group reloaded live (feature `stream`): "The bound
// follows the pool ... after a scale-up it pulls more at its next poll".
// ---------------------------------------------------------------------------

#[cfg(feature = "stream")]
static STREAMED: Group = Group::new(GroupSpec::new("acc25::streamed").size(1));
#[cfg(feature = "stream")]
register_group!(STREAMED);

#[cfg(feature = "stream")]
#[test]
fn a_stream_through_a_group_follows_a_reload_that_grows_it() {
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let _turn = config_turn();
    let alive = Meter::default();
    let running = Meter::default();
    let gate = std::sync::Arc::new(AtomicBool::new(false));
    let rt = common::runtime();
    let items = {
        let (alive, running, gate) = (alive.clone(), running.clone(), gate.clone());
        futures::stream::iter(0..30u32).map(move |i| {
            let held = alive.enter(); // pulled: alive until the item ends
            let (running, gate) = (running.clone(), gate.clone());
            async move {
                let _held = held;
                let _in = running.enter();
                while !gate.load(SeqCst) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                i
            }
        })
    };
    let task = rt.spawn(async move { items.pooled_ordered(&STREAMED).collect::<Vec<_>>().await });
    until("one running", || running.now() == 1);
    std::thread::sleep(Duration::from_millis(50));
    assert!(alive.max() <= 2, "pulled {} at size 1", alive.max());
    config::load_str("s.toml", "[groups.\"acc25::streamed\"]\nsize = 3\n").unwrap();
    until("three running after the reload", || running.now() == 3);
    until("the adapter pulled up to twice the new size", || {
        alive.now() == 6
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(alive.now(), 6);
    gate.store(true, SeqCst);
    let out = within(WATCHDOG, move || rt.block_on(task).unwrap());
    assert_eq!(out, (0..30).map(Ok).collect::<Vec<_>>());
    assert!(running.max() <= 3, "peak {}", running.max());
    assert!(alive.max() <= 6, "held {}", alive.max());
    config::clear();
}

// ---------------------------------------------------------------------------
// The first use reads `POOLED_CONFIG` and the variables: errors "are
// reported once ... on stderr — and the attribute values stand"; a variable
// not ending in a setting's name is ignored with a warning.
// ---------------------------------------------------------------------------

#[test]
fn a_bad_file_at_first_use_is_reported_once_and_the_declarations_stand() {
    const NAME: &str = "a_bad_file_at_first_use_is_reported_once_and_the_declarations_stand";
    let path = std::env::temp_dir().join(format!("pooled-acc25-first-{}.toml", std::process::id()));
    if !common::is_child_process() {
        std::fs::write(
            &path,
            "[groups.\"acc25::from_env\"]\nsize = 4\norder = \"sideways\"\n",
        )
        .unwrap();
    }
    let shown = path.display().to_string();
    let stderr = common::in_child_process(
        NAME,
        &[
            (b"POOLED_CONFIG", shown.as_bytes()),
            (b"POOLED_ACC25__FROM_ENV_MAX_WAITING", b"7"),
            (b"POOLED_DB_URL", b"postgres://elsewhere"),
        ],
        || {
            assert_eq!(FROM_ENV.size(), 2, "the declaration stands");
            assert_eq!(FROM_ENV.pool().max_waiting(), None, "all or nothing");
            assert_eq!(WATCHED.size(), 2);
            assert_eq!(FROM_ENV.run(|| 1), Ok(1));
            assert_eq!(KEPT.run(|| 2), Ok(2));
        },
    );
    if common::is_child_process() {
        return;
    }
    let _ = std::fs::remove_file(&path);
    let at = format!("{shown}:3:9");
    assert_eq!(
        stderr.matches(&at).count(),
        1,
        "the error at {at} once on stderr:\n{stderr}"
    );
}

#[test]
fn a_variable_not_ending_in_a_setting_is_ignored_with_a_warning_at_first_use() {
    const NAME: &str = "a_variable_not_ending_in_a_setting_is_ignored_with_a_warning_at_first_use";
    let stderr = common::in_child_process(
        NAME,
        &[
            (b"POOLED_DB_URL", b"postgres://elsewhere"),
            (b"POOLED_ACC25__FROM_ENV_SIZE", b"5"),
        ],
        || {
            assert_eq!(FROM_ENV.size(), 5, "the good variable applies");
            assert_eq!(WATCHED.size(), 2);
        },
    );
    if common::is_child_process() {
        return;
    }
    assert!(stderr.contains("POOLED_DB_URL"), "no warning:\n{stderr}");
}

// ---------------------------------------------------------------------------
// A load racing a group's first use: "a load stored meanwhile is applied to
// the new pool once published" (README, lock order).
// ---------------------------------------------------------------------------

macro_rules! race_groups {
    ($($g:ident = $name:literal),* $(,)?) => {
        $(
            static $g: Group = Group::new(GroupSpec::new($name).size(2));
            register_group!($g);
        )*
        static RACE_GROUPS: &[(&Group, &str)] = &[$((&$g, $name)),*];
    };
}

race_groups!(
    RACE_0 = "acc25::race_0",
    RACE_1 = "acc25::race_1",
    RACE_2 = "acc25::race_2",
    RACE_3 = "acc25::race_3",
    RACE_4 = "acc25::race_4",
    RACE_5 = "acc25::race_5",
    RACE_6 = "acc25::race_6",
    RACE_7 = "acc25::race_7",
    RACE_8 = "acc25::race_8",
    RACE_9 = "acc25::race_9",
    RACE_10 = "acc25::race_10",
    RACE_11 = "acc25::race_11",
    RACE_12 = "acc25::race_12",
    RACE_13 = "acc25::race_13",
    RACE_14 = "acc25::race_14",
    RACE_15 = "acc25::race_15",
    RACE_16 = "acc25::race_16",
    RACE_17 = "acc25::race_17",
    RACE_18 = "acc25::race_18",
    RACE_19 = "acc25::race_19",
);

#[test]
fn a_load_racing_a_groups_first_use_is_never_lost() {
    let _turn = config_turn();
    within(WATCHDOG, || {
        let mut text = String::new();
        for (i, (group, name)) in RACE_GROUPS.iter().enumerate() {
            text.push_str(&format!(
                "[groups.\"{name}\"]\nsize = 5\nmax_waiting = {}\n",
                10 + i
            ));
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let user = {
                let barrier = barrier.clone();
                let group: &'static Group = group;
                std::thread::spawn(move || {
                    barrier.wait();
                    group.run(|| ()).unwrap();
                })
            };
            barrier.wait();
            config::load_str("race.toml", &text).unwrap();
            user.join().unwrap();
            assert_eq!(group.size(), 5, "{name}: the load was lost");
            assert_eq!(group.pool().max_waiting(), Some(10 + i), "{name}");
            assert_eq!(group.settings().size, Some(5), "{name}");
        }
    });
    config::clear();
}

// ---------------------------------------------------------------------------
// Variable names: a group whose mangled name is another's plus a setting's.
// ---------------------------------------------------------------------------

static SVC: Group = Group::new(GroupSpec::new("acc25::svc").size(2));
register_group!(SVC);
static SVC_SIZE: Group = Group::new(GroupSpec::new("acc25::svc_size").size(2));
register_group!(SVC_SIZE);
static SVC_DOTTED: Group = Group::new(GroupSpec::new("acc25::svc.v2-beta").size(2));
register_group!(SVC_DOTTED);

#[test]
fn variables_of_groups_whose_names_overlap_a_settings_reach_the_right_group() {
    let _turn = config_turn();
    assert_eq!(config::mangle("acc25::svc.v2-beta"), "ACC25__SVC_V2_BETA");
    config::load_env_from(vars(&[
        ("POOLED_ACC25__SVC_SIZE", "4"),
        ("POOLED_ACC25__SVC_SIZE_SIZE", "6"),
        ("POOLED_ACC25__SVC_MAX_WAITING", "9"),
        ("POOLED_ACC25__SVC_SIZE_MAX_WAITING", "3"),
        ("POOLED_ACC25__SVC_V2_BETA_SIZE", "7"),
    ]))
    .unwrap();
    let (svc, svc_size) = (SVC.settings(), SVC_SIZE.settings());
    assert_eq!((svc.size, svc.max_waiting), (Some(4), Some(9)), "{svc:?}");
    assert_eq!(
        (svc_size.size, svc_size.max_waiting),
        (Some(6), Some(3)),
        "{svc_size:?}"
    );
    assert_eq!(SVC_DOTTED.settings().size, Some(7));
    config::clear();
}

// ---------------------------------------------------------------------------
// The ceiling lowered and lifted by reloads while calls run and wait.
// ---------------------------------------------------------------------------

static CEIL_LEFT: Group = Group::new(GroupSpec::new("acc25::ceil_left").size(4));
register_group!(CEIL_LEFT);
static CEIL_RIGHT: Group = Group::new(GroupSpec::new("acc25::ceil_right").size(4));
register_group!(CEIL_RIGHT);

#[test]
fn a_lowered_ceiling_lets_running_calls_finish_and_a_lifted_one_releases_its_waiters() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let _turn = config_turn();
    config::load_str("c.toml", "ceiling = 4\n").unwrap();
    let meter = Meter::default();
    let gate = std::sync::Arc::new(AtomicBool::new(false));
    let lowered = std::sync::Arc::new(AtomicBool::new(false));
    let late_peak = std::sync::Arc::new(AtomicUsize::new(0));
    let spawn = |group: &'static Group| {
        let (meter, gate, lowered, late_peak) = (
            meter.clone(),
            gate.clone(),
            lowered.clone(),
            late_peak.clone(),
        );
        std::thread::spawn(move || {
            group
                .run(|| {
                    let _in = meter.enter();
                    if lowered.load(SeqCst) {
                        late_peak.fetch_max(meter.now(), SeqCst);
                    }
                    while !gate.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    std::thread::sleep(Duration::from_millis(3));
                })
                .unwrap();
        })
    };
    let mut threads: Vec<_> = (0..4).map(|_| spawn(&CEIL_LEFT)).collect();
    threads.extend((0..4).map(|_| spawn(&CEIL_RIGHT)));
    until("four running, four waiting for the ceiling", || {
        meter.now() == 4 && pool_runtime::ceiling::stats().unwrap().waiting == 4
    });
    config::load_str("c.toml", "ceiling = 2\n").unwrap();
    lowered.store(true, SeqCst);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(meter.now(), 4, "running calls are not interrupted");
    gate.store(true, SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(meter.done(), 8);
    let late = late_peak.load(SeqCst);
    assert!(
        (1..=2).contains(&late),
        "a call admitted under the lowered ceiling saw {late} running"
    );

    // Lifted while calls wait for it: they are let through.
    config::load_str("c.toml", "ceiling = 1\n").unwrap();
    let held = CEIL_LEFT.try_acquire_owned(0).unwrap();
    let (tx, rx) = mpsc::channel();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send(CEIL_RIGHT.run(|| i));
            })
        })
        .collect();
    until("three waiting for the ceiling", || {
        pool_runtime::ceiling::stats().unwrap().waiting == 3
    });
    config::load_str("c.toml", "").unwrap();
    assert_eq!(pool_runtime::ceiling::limit(), None);
    let mut got: Vec<u32> = (0..3)
        .map(|_| {
            rx.recv_timeout(WATCHDOG)
                .expect("a waiter of a lifted ceiling hung")
                .unwrap()
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![0, 1, 2]);
    drop(held);
    for t in waiters {
        t.join().unwrap();
    }
    // Set again: it gates calls from then on.
    config::load_str("c.toml", "ceiling = 1\n").unwrap();
    assert_eq!(pool_runtime::ceiling::stats().unwrap().running, 0);
    let peak = Meter::default();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let peak = peak.clone();
            let group: &'static Group = if i % 2 == 0 { &CEIL_LEFT } else { &CEIL_RIGHT };
            std::thread::spawn(move || {
                for _ in 0..10 {
                    group
                        .run(|| {
                            let _in = peak.enter();
                            std::thread::yield_now();
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(peak.max(), 1, "the ceiling of 1 set again");
    config::clear();
}

// ---------------------------------------------------------------------------
// "the autoscale timing [applies] at once" (config docs, "Live reload").
// ---------------------------------------------------------------------------

static AUTO_TIMING: Group = Group::new(
    GroupSpec::new("acc25::auto_timing")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .size(1)
        .autoscale_interval(Duration::from_secs(3600)),
);
register_group!(AUTO_TIMING);

#[test]
fn a_reloaded_autoscale_interval_applies_to_the_running_pool_at_once() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let _turn = config_turn();
    let meter = Meter::default();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (meter, stop) = (meter.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    AUTO_TIMING
                        .run(|| {
                            let _in = meter.enter();
                            std::thread::sleep(Duration::from_millis(2));
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(AUTO_TIMING.size(), 1, "an hour's interval has not passed");
    let report = config::load_str(
        "a.toml",
        "[groups.\"acc25::auto_timing\"]\nautoscale_interval = \"50ms\"\nautoscale_window = 5\n",
    )
    .unwrap();
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.group == "acc25::auto_timing" && c.effect == Effect::Applied),
        "{report:?}"
    );
    let start = Instant::now();
    while AUTO_TIMING.size() < 2 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let grown = AUTO_TIMING.size();
    stop.store(true, SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    assert!(grown >= 2, "the pool never grew under the new interval");
    assert!(meter.max() <= 4, "peak {}", meter.max());
    config::clear();
}

static REPORT_NAMES: Group = Group::new(
    GroupSpec::new("acc25::report_names")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4),
);
register_group!(REPORT_NAMES);

/// `Change::setting` is "The setting's name, as in the file"
/// (`pool-runtime/src/config/report.rs`): a reload that changes
/// `autoscale_interval` or `autoscale_window` reports that key, as one that
/// changes `max_waiting` reports `max_waiting`.
#[test]
fn a_reports_change_of_autoscale_timing_names_the_files_key() {
    let _turn = config_turn();
    assert_eq!(REPORT_NAMES.size(), 1, "an autoscaled pool starts at `min`");
    let report = config::load_str(
        "r.toml",
        "[groups.\"acc25::report_names\"]\nautoscale_interval = \"5s\"\n",
    )
    .unwrap();
    assert_eq!(report_settings(&report), ["autoscale_interval"], "{report}");
    let report = config::load_str(
        "r.toml",
        "[groups.\"acc25::report_names\"]\nautoscale_interval = \"5s\"\nautoscale_window = 7\n",
    )
    .unwrap();
    assert_eq!(report_settings(&report), ["autoscale_window"], "{report}");
    config::clear();
}

fn report_settings(report: &Report) -> Vec<&'static str> {
    report
        .changes
        .iter()
        .filter(|c| c.group == "acc25::report_names")
        .map(|c| c.setting)
        .collect()
}

/// The same for an adaptive parameter: the README lists "`policy` and its
/// `adaptive_*` parameters" among what a report says changed; the file's
/// key is `adaptive_tolerance`.
#[test]
fn a_reports_change_of_an_adaptive_parameter_names_the_files_key() {
    let _turn = config_turn();
    assert_eq!(REPORT_NAMES.size(), 1);
    config::load_str(
        "r.toml",
        "[groups.\"acc25::report_names\"]\npolicy = \"adaptive\"\n",
    )
    .unwrap();
    let report = config::load_str(
        "r.toml",
        "[groups.\"acc25::report_names\"]\npolicy = \"adaptive\"\nadaptive_tolerance = 1.9\n",
    )
    .unwrap();
    assert_eq!(report_settings(&report), ["adaptive_tolerance"], "{report}");
    config::clear();
}

/// "Every value, wherever it is written (a `[defaults]` table's too,
/// whether or not it reaches a group), is checked against the builder's own
/// bounds" (README, Configuration).
#[test]
fn every_bad_value_in_the_defaults_table_is_refused_at_its_place() {
    let _turn = config_turn();
    for line in [
        "size = 0",
        "size = 1073741824",
        "max = 0",
        "min = 1073741824",
        "max_waiting = 1073741824",
        "autoscale_window = 0",
        "autoscale_window = 4097",
        "autoscale_interval = \"0s\"",
        "sync_barging = \"fast\"",
        "executor = \"threads\"",
        "policy = \"fast\"",
        "order = \"random\"",
        "adaptive_window_samples = 0",
        "adaptive_window_samples = 10001",
        "adaptive_tolerance = 0.9",
        "adaptive_backoff = 1.5",
        "adaptive_drop_tolerance = -0.1",
        "adaptive_smoothing = nan",
    ] {
        let text = format!("ceiling = 9\n[defaults]\n{line}\n");
        let out = std::panic::catch_unwind(|| config::load_str("defaults.toml", &text));
        let err = match out {
            Err(_) => panic!("`{line}` panicked"),
            Ok(Ok(report)) => panic!("`{line}` in [defaults] was accepted: {report}"),
            Ok(Err(err)) => err,
        };
        let column = line.find('=').unwrap() + 3;
        assert!(
            err.to_string()
                .starts_with(&format!("defaults.toml:3:{column}:")),
            "`{line}`: {err}"
        );
        assert_eq!(
            pool_runtime::ceiling::limit(),
            None,
            "`{line}`: all or nothing"
        );
    }
}

/// Isolation covers "Everything that goes through `Group::pool`": a tower
/// layer over the group, built before the guard, serves the test's calls
/// from its instance; the shared pool never sees them.
#[cfg(all(feature = "tower", feature = "test-util"))]
static ISOLATED_TOWER: Group = Group::new(GroupSpec::new("acc25::isolated_tower").size(1));
#[cfg(all(feature = "tower", feature = "test-util"))]
register_group!(ISOLATED_TOWER);

#[cfg(all(feature = "tower", feature = "test-util"))]
#[test]
fn a_tower_layer_over_an_isolated_group_uses_the_tests_instance() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    let service = PooledLayer::group(&ISOLATED_TOWER)
        .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    let shared_before = ISOLATED_TOWER.stats().submitted();
    let rt = common::runtime();
    rt.block_on(async {
        let _mine = ISOLATED_TOWER.isolate();
        ISOLATED_TOWER.pause();
        let err = service.clone().oneshot(1).await.unwrap_err();
        assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
        ISOLATED_TOWER.resume();
        let spawned = tokio::spawn(service.clone().oneshot(2));
        assert_eq!(spawned.await.unwrap().unwrap(), 2);
        assert_eq!(
            ISOLATED_TOWER.stats().submitted(),
            2,
            "the instance saw both"
        );
    });
    assert!(!ISOLATED_TOWER.is_paused());
    assert_eq!(
        ISOLATED_TOWER.stats().submitted(),
        shared_before,
        "the shared pool saw none of the test's calls"
    );
    assert_eq!(futures::executor::block_on(service.oneshot(3)).unwrap(), 3);
    assert_eq!(ISOLATED_TOWER.stats().submitted(), shared_before + 1);
}

static MANUAL_SCALE: Group = Group::new(
    GroupSpec::new("acc25::manual_scale")
        .kind(Kind::Autoscale)
        .min(1)
        .max(6)
        .size(2),
);
register_group!(MANUAL_SCALE);

/// "a reload changes a running pool's size only when the configured size
/// itself changed, so it does not undo a manual `scale` it has nothing new
/// to say about"; bounds a reload changes clamp it.
#[test]
fn a_manual_resize_of_an_autoscaled_group_survives_reloads_that_do_not_touch_its_counts() {
    let _turn = config_turn();
    assert_eq!(MANUAL_SCALE.size(), 2);
    assert_eq!(MANUAL_SCALE.resize(5), 5);
    config::load_str(
        "m.toml",
        "[groups.\"acc25::manual_scale\"]\nmax_waiting = 3\nadmission_timeout = \"1s\"\n",
    )
    .unwrap();
    assert_eq!(MANUAL_SCALE.size(), 5, "nothing new about its counts");
    config::load_str(
        "m.toml",
        "[groups.\"acc25::manual_scale\"]\nmax_waiting = 3\nmax = 4\n",
    )
    .unwrap();
    assert_eq!(MANUAL_SCALE.pool().bounds(), (1, 4));
    assert_eq!(MANUAL_SCALE.size(), 4, "clamped into the new bounds");
    assert_eq!(MANUAL_SCALE.scale(-1), 3);
    config::load_str(
        "m.toml",
        "[groups.\"acc25::manual_scale\"]\nmax_waiting = 3\nmax = 4\nsync_barging = \"1ms\"\n",
    )
    .unwrap();
    assert_eq!(MANUAL_SCALE.size(), 3);
    config::clear();
    assert_eq!(MANUAL_SCALE.pool().bounds(), (1, 6));
    assert_eq!(MANUAL_SCALE.size(), 3, "wider bounds leave the size alone");
}

/// Duration literals: "whole numbers with a unit, possibly several:
/// `"250us"`, `"500ms"`, `"2s"`, `"1m"`, `"1m30s"` (units `h`, `m`, `s`,
/// `ms`, `us`, `ns`)", the same in a file and a variable.
#[test]
fn every_documented_duration_spelling_reads_the_same_in_a_file_and_a_variable() {
    let _turn = config_turn();
    let cases = [
        ("250us", Duration::from_micros(250)),
        ("500ms", Duration::from_millis(500)),
        ("2s", Duration::from_secs(2)),
        ("1m", Duration::from_secs(60)),
        ("1m30s", Duration::from_secs(90)),
        ("2h", Duration::from_secs(7200)),
        ("750ns", Duration::from_nanos(750)),
        ("1h1m1s1ms1us1ns", Duration::new(3661, 1_001_001)),
    ];
    for (text, want) in cases {
        config::load_str(
            "d.toml",
            &format!("[groups.\"acc25::every_key\"]\nadmission_timeout = \"{text}\"\n"),
        )
        .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            EVERY_KEY.settings().admission_timeout,
            Some(want),
            "file: {text}"
        );
        config::load_str("d.toml", "").unwrap();
        config::load_env_from(vars(&[("POOLED_ACC25__EVERY_KEY_ADMISSION_TIMEOUT", text)]))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            EVERY_KEY.settings().admission_timeout,
            Some(want),
            "variable: {text}"
        );
        config::load_env_from(vars(&[])).unwrap();
    }
    config::clear();
}

/// "`min`/`max` on a fixed group [are refused] with a message naming the
/// group", at the bound's place, in a file and a variable.
#[test]
fn bounds_on_a_fixed_group_are_refused_naming_the_group() {
    let _turn = config_turn();
    for key in ["min", "max"] {
        let err = config::load_str(
            "f.toml",
            &format!("[groups.\"acc25::every_key\"]\n{key} = 2\n"),
        )
        .unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("f.toml:2:{}:", key.len() + 4)),
            "{shown}"
        );
        assert!(
            shown.contains("acc25::every_key"),
            "the group is not named: {shown}"
        );
        let name = format!("POOLED_ACC25__EVERY_KEY_{}", key.to_uppercase());
        let err = config::load_env_from(vars(&[(name.as_str(), "2")])).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains(&name), "{shown}");
        assert!(
            shown.contains("acc25::every_key"),
            "the group is not named: {shown}"
        );
    }
}

static ORDER_KEPT: Group = Group::new(GroupSpec::new("acc25::order_kept").size(1));
register_group!(ORDER_KEPT);

/// "Kind, order, ... are fixed while a pool runs": a reload to `lifo`
/// leaves a running FIFO pool admitting its waiters first come, first
/// served.
#[test]
fn a_reloaded_order_leaves_a_running_pool_in_its_order() {
    let _turn = config_turn();
    let report = {
        let held = ORDER_KEPT.pool().try_acquire_owned(0).unwrap();
        let report = config::load_str(
            "o.toml",
            "[groups.\"acc25::order_kept\"]\norder = \"lifo\"\n",
        )
        .unwrap();
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        for i in 0..4u32 {
            let tx = tx.clone();
            threads.push(std::thread::spawn(move || {
                ORDER_KEPT.run(|| tx.send(i).unwrap()).unwrap();
            }));
            until("queued in turn", || {
                ORDER_KEPT.stats().waiting == i as usize + 1
            });
        }
        drop(held);
        let order: Vec<u32> = (0..4).map(|_| rx.recv_timeout(WATCHDOG).unwrap()).collect();
        assert_eq!(order, vec![0, 1, 2, 3], "still FIFO");
        for t in threads {
            t.join().unwrap();
        }
        report
    };
    let order = report
        .changes
        .iter()
        .find(|c| c.group == "acc25::order_kept" && c.setting == "order")
        .expect("the order in the report");
    assert_eq!((order.from.as_str(), order.to.as_str()), ("fifo", "lifo"));
    assert_eq!(order.effect, Effect::AtRestart);
    config::clear();
}

static CAFE: Group = Group::new(GroupSpec::new("acc25::café").size(2));
register_group!(CAFE);

/// `Origin::File`'s column is "1-based column (in characters)"; the
/// environment's origin names the variable.
#[test]
fn a_files_error_column_counts_characters_and_a_variables_origin_names_it() {
    let _turn = config_turn();
    let line = "\"acc25::café\" = { size = 0 }";
    let text = format!("[groups]\n{line}\n");
    let err = config::load_str("u.toml", &text).unwrap_err();
    let column = line.chars().position(|c| c == '0').unwrap() + 1;
    match err.origin() {
        Some(config::Origin::File {
            path,
            line,
            column: at,
        }) => {
            assert_eq!((path.as_str(), *line), ("u.toml", 2), "{err}");
            assert_eq!(*at, column, "a column in characters: {err}");
        }
        other => panic!("{other:?}: {err}"),
    }
    let err = config::load_env_from(vars(&[("POOLED_ACC25__CAF__SIZE", "0")])).unwrap_err();
    match err.origin() {
        Some(config::Origin::Env { var }) => assert_eq!(var, "POOLED_ACC25__CAF__SIZE"),
        other => panic!("{other:?}: {err}"),
    }
    assert!(
        err.to_string()
            .starts_with("environment variable POOLED_ACC25__CAF__SIZE: "),
        "{err}"
    );
    config::load_env_from(vars(&[("POOLED_ACC25__CAF__SIZE", "4")])).unwrap();
    assert_eq!(CAFE.settings().size, Some(4));
    let missing = std::env::temp_dir().join("pooled-acc25-no-such-file.toml");
    let err = config::load(&missing).unwrap_err();
    assert!(err.origin().is_none(), "{err}");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    config::clear();
}

/// `[defaults]`'s `size` "applies to fixed groups only, its `min`/`max` to
/// autoscaled ones only: the kind a group ends up with, after the layers
/// above"; but "its `policy` [applies] to groups autoscaled by then" (the
/// `[defaults]` layer): a group declared fixed and made autoscaled by the
/// environment takes the table's bounds, not its size nor its policy.
#[test]
fn defaults_follow_the_kind_a_stronger_layer_gives() {
    let _turn = config_turn();
    config::load_str(
        "d.toml",
        "[defaults]\nsize = 6\nmin = 2\nmax = 5\npolicy = \"adaptive\"\n",
    )
    .unwrap();
    assert_eq!(DEF_FIXED.settings().size, Some(6));
    config::load_env_from(vars(&[("POOLED_ACC25__DEF_FIXED_KIND", "autoscale")])).unwrap();
    let s = DEF_FIXED.settings();
    assert_eq!(s.kind, Kind::Autoscale, "{s:?}");
    assert_eq!((s.min, s.max), (Some(2), Some(5)), "{s:?}");
    assert!(
        matches!(s.policy, pool_runtime::ScalePolicy::QueueDepth),
        "{s:?}"
    );
    assert_eq!(s.starting_size(), 2, "the fixed size is set aside: {s:?}");
    assert!(s.check().is_ok(), "{s:?}");
    // And the other way: declared autoscaled, made fixed by the
    // environment: the table's size, no bounds, no policy.
    config::load_env_from(vars(&[("POOLED_ACC25__DEF_AUTO_KIND", "fixed")])).unwrap();
    let s = DEF_AUTO.settings();
    assert_eq!(s.kind, Kind::Fixed, "{s:?}");
    assert_eq!((s.size, s.min, s.max), (Some(6), None, None), "{s:?}");
    assert!(
        matches!(s.policy, pool_runtime::ScalePolicy::QueueDepth),
        "{s:?}"
    );
    config::clear();
}

// ---------------------------------------------------------------------------
// Isolation, the ceiling and nesting together: a nested call runs under its
// parent's ceiling slot, and "the innermost call of the group decides"
// which instance a nested call belongs to.
// ---------------------------------------------------------------------------

#[cfg(feature = "test-util")]
static NEST_A: Group = Group::new(GroupSpec::new("acc25::nest_a").size(1));
#[cfg(feature = "test-util")]
register_group!(NEST_A);
#[cfg(feature = "test-util")]
static NEST_B: Group = Group::new(GroupSpec::new("acc25::nest_b").size(1));
#[cfg(feature = "test-util")]
register_group!(NEST_B);

#[cfg(feature = "test-util")]
#[test]
fn nested_calls_of_an_isolated_group_under_a_ceiling_of_one_never_deadlock() {
    let _turn = config_turn();
    config::load_str("n.toml", "ceiling = 1\n").unwrap();
    let shared_before = NEST_A.stats().submitted();
    let out = within(WATCHDOG, || {
        let _mine = NEST_A.isolate();
        let rt = common::runtime();
        let sync = NEST_A
            .run(|| {
                NEST_B
                    .run(|| NEST_A.run(|| NEST_B.run(|| 1).unwrap()).unwrap())
                    .unwrap()
            })
            .unwrap();
        // Blocking work on the executor's thread, nested there.
        let blocking = rt.block_on(async {
            let _in_runtime = NEST_A.isolate();
            NEST_A
                .submit_blocking(0, || NEST_A.run(|| NEST_B.run(|| 2).unwrap()).unwrap())
                .await
                .unwrap()
        });
        let instance = NEST_A.stats();
        (sync, blocking, instance)
    });
    assert_eq!((out.0, out.1), (1, 2));
    assert_eq!(
        out.2.submitted(),
        2,
        "the thread's instance saw its outer call and the call nested in it: {:?}",
        out.2
    );
    assert_eq!(
        NEST_A.stats().submitted(),
        shared_before,
        "the shared pool saw none"
    );
    let ceiling = pool_runtime::ceiling::stats().unwrap();
    assert_eq!((ceiling.running, ceiling.waiting), (0, 0), "{ceiling:?}");
    config::clear();
}

/// The environment beats the file for the ceiling too; each layer's is kept
/// when the other is reloaded.
#[test]
fn the_environments_ceiling_beats_the_files_and_each_survives_the_others_reload() {
    let _turn = config_turn();
    config::load_str("c.toml", "ceiling = 5\n").unwrap();
    assert_eq!(pool_runtime::ceiling::limit(), Some(5));
    let report = config::load_env_from(vars(&[("POOLED_CEILING", "3")])).unwrap();
    assert_eq!(pool_runtime::ceiling::limit(), Some(3));
    let change = report
        .changes
        .iter()
        .find(|c| c.setting == "ceiling")
        .expect("the ceiling in the report");
    assert_eq!(
        (change.group, change.from.as_str(), change.to.as_str()),
        ("(ceiling)", "5", "3")
    );
    config::load_str("c.toml", "ceiling = 7\n").unwrap();
    assert_eq!(
        pool_runtime::ceiling::limit(),
        Some(3),
        "the environment still wins"
    );
    config::load_env_from(vars(&[])).unwrap();
    assert_eq!(
        pool_runtime::ceiling::limit(),
        Some(7),
        "the file's, reloaded meanwhile"
    );
    let err = config::load_env_from(vars(&[("POOLED_CEILING", "lots")])).unwrap_err();
    assert!(err.to_string().contains("POOLED_CEILING"), "{err}");
    assert_eq!(pool_runtime::ceiling::limit(), Some(7));
    config::clear();
    assert_eq!(pool_runtime::ceiling::limit(), None);
}

/// A tower layer over a group under a full ceiling: in reject mode the
/// call is shed at once (`try_acquire`: "the ceiling, whose slot must be
/// free now too"); in waiting mode it waits for the ceiling, and the inner
/// service never sees more than the ceiling.
#[cfg(feature = "tower")]
#[test]
fn a_tower_layer_over_a_group_sheds_or_waits_at_a_full_ceiling() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    let _turn = config_turn();
    config::load_str("t.toml", "ceiling = 1\n").unwrap();
    let meter = Meter::default();
    let inner = {
        let meter = meter.clone();
        service_fn(move |n: u32| {
            let meter = meter.clone();
            async move {
                let _in = meter.enter();
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok::<_, BoxError>(n)
            }
        })
    };
    let held = CEIL_HOLDER.try_acquire_owned(0).unwrap();
    let rt = common::runtime();
    let shed = PooledLayer::group(&CEIL_RIGHT)
        .reject()
        .layer(inner.clone());
    let started = Instant::now();
    let err = rt.block_on(shed.clone().oneshot(1)).unwrap_err();
    assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Full));
    assert!(started.elapsed() < Duration::from_secs(5));
    let waiting = PooledLayer::group(&CEIL_RIGHT).layer(inner);
    let calls: Vec<_> = (0..6)
        .map(|i| rt.spawn(waiting.clone().oneshot(i)))
        .collect();
    until("the calls wait for the ceiling", || {
        pool_runtime::ceiling::stats().unwrap().waiting >= 1
    });
    assert_eq!(meter.now(), 0);
    drop(held);
    let mut got: Vec<u32> = calls
        .into_iter()
        .map(|c| {
            within(WATCHDOG, {
                let handle = rt.handle().clone();
                move || handle.block_on(c).unwrap().unwrap()
            })
        })
        .collect();
    got.sort();
    assert_eq!(got, (0..6).collect::<Vec<_>>());
    assert_eq!(meter.max(), 1, "the ceiling of 1 at the inner service");
    config::clear();
}
