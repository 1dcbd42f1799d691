//! Application-wide configuration: precedence, reload under load, bad input,
//! the ceiling, and the registry of groups.
#![cfg(feature = "config")]

mod common;
use common::{config_turn, vars};
use pool_runtime::config::{self, Effect, Origin};
use pool_runtime::{register_group, Group, GroupSpec, Kind, Order, Pool, Rejected, ScalePolicy};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

static FETCH: Group = Group::new(GroupSpec::new("app::fetch").size(2));
static STORE: Group = Group::new(
    GroupSpec::new("app::store")
        .kind(Kind::Autoscale)
        .order(Order::Priority)
        .min(1)
        .max(4),
);
static NEVER_CALLED: Group = Group::new(GroupSpec::new("app::never_called").size(5));
register_group!(FETCH);
register_group!(STORE);
register_group!(NEVER_CALLED);

#[test]
fn precedence_attribute_then_defaults_then_section_then_env_then_runtime_calls() {
    let _serial = config_turn();
    assert_eq!(
        NEVER_CALLED.settings().starting_size(),
        5,
        "attribute value"
    );
    config::load_str("app.toml", "[defaults]\nsize = 6\n").unwrap();
    assert_eq!(
        NEVER_CALLED.settings().starting_size(),
        6,
        "file defaults beat the attribute"
    );
    config::load_str(
        "app.toml",
        "[defaults]\nsize = 6\n[groups.\"app::never_called\"]\nsize = 7\n",
    )
    .unwrap();
    assert_eq!(
        NEVER_CALLED.settings().starting_size(),
        7,
        "the group section beats the defaults"
    );
    config::load_env_from(vars(&[("POOLED_APP__NEVER_CALLED_SIZE", "8")])).unwrap();
    assert_eq!(
        NEVER_CALLED.settings().starting_size(),
        8,
        "the environment beats the file"
    );

    // Runtime calls beat everything, and a reload that does not change the
    // configured size leaves them alone.
    config::clear();
    assert_eq!(FETCH.size(), 2);
    assert_eq!(FETCH.scale(3), 5);
    config::load_str("app.toml", "[defaults]\nsize = 6\nmax_waiting = 9\n").unwrap();
    assert_eq!(
        FETCH.size(),
        6,
        "a changed configured size is applied to the running pool"
    );
    assert_eq!(FETCH.scale(-1), 5);
    let report = config::load_str("app.toml", "[defaults]\nsize = 6\nmax_waiting = 10\n").unwrap();
    assert_eq!(
        FETCH.size(),
        5,
        "an unchanged configured size does not undo `scale`"
    );
    assert_eq!(FETCH.pool().max_waiting(), Some(10));
    assert!(report.changes.iter().any(|c| c.group == "app::fetch"
        && c.setting == "max_waiting"
        && c.effect == Effect::Applied));

    // The autoscale policy is chosen per group; kind, order and policy of a
    // running pool change at restart only.
    config::load_str(
        "app.toml",
        "[groups.\"app::store\"]\npolicy = \"adaptive\"\n",
    )
    .unwrap();
    assert!(matches!(
        STORE.settings().policy,
        pool_runtime::ScalePolicy::Adaptive(_)
    ));

    // Defaults: `size` is for fixed groups, `min`/`max` for autoscaled ones.
    config::load_str("app.toml", "[defaults]\nsize = 9\nmin = 2\nmax = 12\n").unwrap();
    let (fetch, store) = (FETCH.settings(), STORE.settings());
    assert_eq!(
        (fetch.size, store.min, store.max),
        (Some(9), Some(2), Some(12))
    );
}

#[test]
fn reload_under_load_applies_limits_at_once_loses_nothing_and_never_exceeds_them() {
    let _serial = config_turn();
    static LOAD: Group = Group::new(GroupSpec::new("app::load").size(2));
    register_group!(LOAD);
    let running = Arc::new(AtomicUsize::new(0));
    let limit = Arc::new(AtomicUsize::new(2));
    let violations = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let completed = runtime.block_on(async {
        let tasks: Vec<_> = (0..300)
            .map(|_| {
                let (running, limit, violations) =
                    (running.clone(), limit.clone(), violations.clone());
                tokio::spawn(LOAD.submit(0, async move {
                    if running.fetch_add(1, Ordering::SeqCst) + 1 > limit.load(Ordering::SeqCst) {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for size in [6, 1, 4] {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if size > limit.load(Ordering::SeqCst) {
                limit.store(size, Ordering::SeqCst);
                config::load_str(
                    "app.toml",
                    &format!("[groups.\"app::load\"]\nsize = {size}\n"),
                )
                .unwrap();
                assert_eq!(LOAD.size(), size);
            } else {
                config::load_str(
                    "app.toml",
                    &format!("[groups.\"app::load\"]\nsize = {size}\n"),
                )
                .unwrap();
                while LOAD.stats().running > size {
                    tokio::task::yield_now().await;
                }
                limit.store(size, Ordering::SeqCst);
            }
        }
        let mut ok = 0;
        for task in tasks {
            ok += usize::from(task.await.unwrap().is_ok());
        }
        ok
    });
    assert_eq!(completed, 300, "no call lost");
    assert_eq!(
        violations.load(Ordering::SeqCst),
        0,
        "the limit held throughout"
    );
    assert_eq!(LOAD.stats().completed, 300);
}

fn load_err(text: &str) -> config::ConfigError {
    config::load_str("conf/app.toml", text).expect_err("the configuration is invalid")
}

fn at(line: usize, column: usize) -> Option<Origin> {
    Some(Origin::File {
        path: "conf/app.toml".into(),
        line,
        column,
    })
}

#[test]
fn each_bad_input_names_file_line_column_and_the_valid_choices_and_changes_nothing() {
    let _serial = config_turn();
    config::load_str(
        "conf/app.toml",
        "[groups.\"app::fetch\"]\nmax_waiting = 3\n",
    )
    .unwrap();
    let before = FETCH.settings();

    let e = load_err("[defaults]\nsize = 4\nsize = 5\n");
    assert_eq!(e.origin().cloned(), at(3, 1), "{e}");
    let e = load_err("[defaults]\nsize = [\n");
    assert!(
        e.origin().cloned().is_some(),
        "syntax errors have a position: {e}"
    );

    let e = load_err("[defaults]\nmax_wait = 4\n");
    assert_eq!(e.origin().cloned(), at(2, 1), "{e}");
    assert!(
        e.message().contains("unknown field `max_wait`") && e.message().contains("`max_waiting`"),
        "{e}"
    );

    // Keys in the wrong place say where they go.
    let e = load_err("size = 4\n");
    assert_eq!(e.origin().cloned(), at(1, 1), "{e}");
    assert!(
        e.message().starts_with("unknown field `size`")
            && e.message().contains("`size` is a group setting")
            && e.message().contains("`[defaults]`"),
        "{e}"
    );
    let e = load_err("ceilng = 4\n");
    assert_eq!(e.origin().cloned(), at(1, 1), "{e}");
    assert!(e.message().contains("did you mean `ceiling`?"), "{e}");
    let e = load_err("[defaults]\nsize = 2\nceiling = 4\n");
    assert_eq!(e.origin().cloned(), at(3, 1), "{e}");
    assert!(
        e.message().starts_with("`ceiling` is not a group setting")
            && e.message().contains("top-level key"),
        "{e}"
    );

    let e = load_err("[groups.\"app::fetch\"]\nsize = \"big\"\n");
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (at(2, 8), "`size`: expected an integer, found string")
    );

    let e = load_err("[groups.\"app::fetch\"]\nsize = -2\n");
    assert_eq!(e.origin().cloned(), at(2, 8));
    assert_eq!(
        e.message(),
        "`size`: invalid value `-2`: expected a whole number from 0 to 1073741823"
    );

    let e = load_err("[groups.\"app::fetch\"]\nsize = 0\n");
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (
            at(2, 8),
            "group `app::fetch`: a fixed pool needs `size` >= 1"
        )
    );

    let e = load_err("[groups.\"app::store\"]\nmin = 5\nmax = 3\n");
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (
            at(2, 7),
            "group `app::store`: `min` (5) is greater than `max` (3)"
        )
    );

    let e = load_err("[groups.\"app::store\"]\nkind = \"elastic\"\n");
    assert_eq!(e.origin().cloned(), at(2, 8));
    assert_eq!(
        e.message(),
        "`kind`: invalid value `elastic`: expected one of `fixed`, `autoscale`"
    );

    let e = load_err("[groups.\"app::store\"]\npolicy = \"vegas\"\n");
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (
            at(2, 10),
            "`policy`: invalid value `vegas`: expected one of `queue_depth`, `adaptive`"
        )
    );

    let e = load_err("[groups.\"app::fetch\"]\nmax = 3\n");
    assert_eq!(e.origin().cloned(), at(2, 7));
    assert!(
        e.message()
            .starts_with("`min`/`max` apply to autoscaled groups; group `app::fetch` is fixed"),
        "{e}"
    );

    // The file is held to the builder's rule: a policy on a fixed group is
    // refused, at the policy, with the builder's message.
    let e = load_err("[groups.\"app::fetch\"]\npolicy = \"adaptive\"\n");
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (
            at(2, 10),
            "group `app::fetch`: a scale policy applies to autoscaled pools; \
             a fixed pool has none (make its kind autoscale)"
        )
    );
    assert_eq!(
        Pool::builder()
            .scale_policy(ScalePolicy::Adaptive(Default::default()))
            .build()
            .unwrap_err()
            .to_string(),
        "a scale policy applies to autoscaled pools; a fixed pool has none (make its kind autoscale)",
        "the same message from the builder"
    );

    let e = load_err("[groups.\"app::fetch\"]\nadmission_timeout = \"2 s\"\n");
    assert_eq!(e.origin().cloned(), at(2, 21));
    assert!(
        e.message().contains("invalid duration `2 s`") && e.message().contains("\"500ms\""),
        "{e}"
    );

    let e = load_err("[groups.\"app::fecth\"]\nsize = 3\n");
    assert_eq!(e.origin().cloned(), at(1, 9));
    assert!(
        e.message()
            .starts_with("unknown group `app::fecth`; did you mean `app::fetch`? known groups: "),
        "{e}"
    );
    assert!(
        e.message().contains("`app::never_called`"),
        "lists groups never called: {e}"
    );

    let e = config::load_env_from(vars(&[("POOLED_APP__STORE_MAX", "0")])).unwrap_err();
    assert_eq!(
        e.origin().cloned(),
        Some(Origin::Env {
            var: "POOLED_APP__STORE_MAX".into()
        })
    );

    assert_eq!(FETCH.settings(), before, "no bad load changed anything");
    let e = config::load("/nonexistent/pooled.toml").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/pooled.toml: cannot read the configuration file"),
        "{e}"
    );
}

/// `sync_barging` is a duration setting like `admission_timeout`: a file's
/// `[defaults]` and group table and the environment set it (`"0s"` is off,
/// as a zero bound is on the builder), a reload reaches the running pool,
/// and a bad value is refused at its position (or variable), changing
/// nothing.
#[test]
fn sync_barging_comes_from_the_file_and_the_environment_and_reaches_the_running_pool() {
    let _serial = config_turn();
    config::clear();
    assert_eq!(FETCH.settings().sync_barging, None, "off by default");
    assert_eq!(FETCH.run(|| 1), Ok(1), "the pool runs");
    assert_eq!(FETCH.pool().sync_barging(), None);

    let report = config::load_str("app.toml", "[defaults]\nsync_barging = \"2ms\"\n").unwrap();
    assert_eq!(
        FETCH.settings().sync_barging,
        Some(Duration::from_millis(2))
    );
    assert_eq!(
        FETCH.pool().sync_barging(),
        Some(Duration::from_millis(2)),
        "{report}"
    );
    assert!(
        report.changes.iter().any(|c| c.group == "app::fetch"
            && c.setting == "sync_barging"
            && c.effect == Effect::Applied),
        "{report}"
    );
    config::load_str(
        "app.toml",
        "[defaults]\nsync_barging = \"2ms\"\n[groups.\"app::fetch\"]\nsync_barging = \"50us\"\n",
    )
    .unwrap();
    assert_eq!(
        FETCH.pool().sync_barging(),
        Some(Duration::from_micros(50)),
        "the group's table beats the defaults"
    );
    config::load_env_from(vars(&[("POOLED_APP__FETCH_SYNC_BARGING", "1ms250us")])).unwrap();
    assert_eq!(
        FETCH.settings().sync_barging,
        Some(Duration::from_micros(1250))
    );
    assert_eq!(
        FETCH.pool().sync_barging(),
        Some(Duration::from_micros(1250)),
        "the environment beats the file"
    );
    config::load_env_from(vars(&[("POOLED_APP__FETCH_SYNC_BARGING", "0s")])).unwrap();
    assert_eq!(
        FETCH.settings().sync_barging,
        None,
        "a zero bound is held as off"
    );
    assert_eq!(FETCH.pool().sync_barging(), None, "a zero bound is off");
    assert_eq!(FETCH.run(|| 2), Ok(2));

    let before = FETCH.settings();
    let e = load_err("[groups.\"app::fetch\"]\nsync_barging = \"5\"\n");
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (
            at(2, 16),
            "`sync_barging`: invalid duration `5`: `5` has no unit; write whole numbers \
             with a unit (h, m, s, ms, us, ns), e.g. \"500ms\", \"2s\", \"1m30s\""
        )
    );
    let e = load_err("[groups.\"app::fetch\"]\nsync_barging = 5\n");
    assert_eq!(e.origin().cloned(), at(2, 16), "{e}");
    assert!(
        e.message().contains("expected a string, found integer"),
        "{e}"
    );
    let e = load_err("[groups.\"app::fetch\"]\nsync_bargin = \"5ms\"\n");
    assert_eq!(e.origin().cloned(), at(2, 1), "{e}");
    assert!(e.message().contains("did you mean `sync_barging`?"), "{e}");
    let e = config::load_env_from(vars(&[("POOLED_APP__FETCH_SYNC_BARGING", "soon")])).unwrap_err();
    assert_eq!(
        e.origin().cloned(),
        Some(Origin::Env {
            var: "POOLED_APP__FETCH_SYNC_BARGING".into()
        })
    );
    assert!(e.message().contains("invalid duration `soon`"), "{e}");
    assert_eq!(FETCH.settings(), before, "no bad load changed anything");
    assert_eq!(FETCH.pool().sync_barging(), None);

    let report = config::clear();
    assert_eq!(FETCH.settings().sync_barging, None, "{report}");
}

#[test]
fn a_ceiling_of_zero_is_a_load_error_in_the_file_and_in_the_environment() {
    let _serial = config_turn();
    let e = load_err("ceiling = 0\n");
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (
            at(1, 11),
            "`ceiling`: invalid value `0`: expected a whole number from 1 to 1073741823 \
             (a ceiling of 0 would admit nothing; leave it out for no ceiling)"
        )
    );
    let e = config::load_env_from(vars(&[("POOLED_CEILING", "0")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable POOLED_CEILING: invalid value `0`: expected a whole number \
         from 1 to 1073741823 (a ceiling of 0 would admit nothing; leave it out for no ceiling)"
    );
    assert_eq!(
        pool_runtime::ceiling::limit(),
        None,
        "a bad load changes nothing"
    );
    assert_eq!(FETCH.run(|| 1), Ok(1), "calls are admitted");
}

#[test]
fn the_ceiling_limits_running_calls_across_groups_and_nested_calls_do_not_deadlock() {
    let _serial = config_turn();
    static A: Group = Group::new(GroupSpec::new("app::ceiling_a").size(4));
    static B: Group = Group::new(GroupSpec::new("app::ceiling_b").size(4));
    register_group!(A);
    register_group!(B);
    let report = config::load_str("app.toml", "ceiling = 3\n").unwrap();
    assert_eq!(pool_runtime::ceiling::limit(), Some(3));
    assert!(report.changes.iter().any(|c| c.setting == "ceiling"));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..120)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                let group = if i % 2 == 0 { &A } else { &B };
                tokio::spawn(group.submit(0, async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // A nested call into the other group, with everything full.
                    let other = if i % 2 == 0 { &B } else { &A };
                    let nested = other.submit(0, async { 1 }).await;
                    tokio::time::sleep(Duration::from_micros(300)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    nested
                }))
            })
            .collect();
        let deadline = tokio::time::timeout(Duration::from_secs(20), async {
            for task in tasks {
                assert_eq!(task.await.unwrap(), Ok(Ok(1)));
            }
        });
        deadline.await.expect("no deadlock");
    });
    assert!(
        peak.load(Ordering::SeqCst) <= 3,
        "peak {} above the ceiling",
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(pool_runtime::ceiling::stats().unwrap().running, 0);
    config::clear();
    assert_eq!(pool_runtime::ceiling::limit(), None);
}

#[test]
fn groups_lists_every_registered_group_with_settings_even_if_never_called() {
    let _serial = config_turn();
    let listed = pool_runtime::groups();
    let never = listed
        .iter()
        .find(|g| g.name == "app::never_called")
        .expect("listed");
    assert_eq!((never.settings.starting_size(), never.stats), (5, None));
    assert!(!NEVER_CALLED.is_started(), "listing does not start a group");
}

#[test]
fn a_kind_change_of_a_running_group_waits_for_restart_with_the_settings_it_brings() {
    let _serial = config_turn();
    static RUNNING: Group = Group::new(GroupSpec::new("app::running").size(2));
    register_group!(RUNNING);
    assert_eq!(RUNNING.run(|| 1), Ok(1));
    let report = config::load_str(
        "app.toml",
        "[groups.\"app::running\"]\nkind = \"autoscale\"\nmin = 1\nmax = 9\n",
    )
    .unwrap();
    let effect = |setting: &str| {
        report
            .changes
            .iter()
            .find(|c| c.group == "app::running" && c.setting == setting)
            .map(|c| c.effect)
    };
    assert_eq!(effect("kind"), Some(Effect::AtRestart));
    assert_eq!(
        effect("min"),
        Some(Effect::AtRestart),
        "a fixed pool has no use for min"
    );
    assert_eq!(effect("max"), Some(Effect::AtRestart));
    // A fixed group has no bounds: they read `none`, not the
    // `0..=MAX_SLOTS` a fixed pool resolves to.
    let shown = |setting: &str| {
        report
            .changes
            .iter()
            .find(|c| c.group == "app::running" && c.setting == setting)
            .map(|c| (c.from.clone(), c.to.clone()))
    };
    assert_eq!(shown("min"), Some(("none".into(), "1".into())));
    assert_eq!(shown("max"), Some(("none".into(), "9".into())));
    assert_eq!(
        (RUNNING.size(), RUNNING.settings().kind),
        (2, Kind::Fixed),
        "still the fixed pool it started as"
    );
    // And back: the autoscaled bounds go to `none`.
    let back = config::load_str("app.toml", "").unwrap();
    let row = |setting: &str| {
        back.changes
            .iter()
            .find(|c| c.group == "app::running" && c.setting == setting)
            .map(|c| (c.from.clone(), c.to.clone()))
    };
    assert_eq!(row("max"), Some(("9".into(), "none".into())), "{back}");
}

#[test]
fn the_adaptive_parameters_are_settable_from_the_file_and_the_environment() {
    let _serial = config_turn();
    config::load_str(
        "app.toml",
        "[groups.\"app::store\"]\npolicy = \"adaptive\"\nadaptive_tolerance = 2.5\n\
         adaptive_window_samples = 40\nadaptive_baseline_interval = \"30s\"\n",
    )
    .unwrap();
    let ScalePolicy::Adaptive(params) = STORE.settings().policy else {
        panic!("adaptive: {:?}", STORE.settings().policy);
    };
    assert_eq!(
        (
            params.tolerance,
            params.window_samples,
            params.baseline_interval
        ),
        (2.5, 40, Duration::from_secs(30))
    );
    assert_eq!(
        params.backoff,
        pool_runtime::AdaptiveSettings::default().backoff,
        "unset parameters keep their defaults"
    );

    config::load_env_from(vars(&[
        ("POOLED_APP__STORE_POLICY", "adaptive"),
        ("POOLED_APP__STORE_ADAPTIVE_BACKOFF", "0.75"),
    ]))
    .unwrap();
    let ScalePolicy::Adaptive(params) = STORE.settings().policy else {
        panic!("adaptive");
    };
    assert_eq!(params.backoff, 0.75, "the environment sets them too");

    // Out of range: refused at the parameter, with the builder's message.
    let e = config::load_str(
        "app.toml",
        "[groups.\"app::store\"]\npolicy = \"adaptive\"\nadaptive_smoothing = 1.5\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.origin().cloned(), e.message()),
        (
            Some(Origin::File {
                path: "app.toml".into(),
                line: 3,
                column: 22
            }),
            "group `app::store`: `AdaptiveSettings::smoothing` = 1.5 is out of range: \
             expected a number from 0 to 1"
        )
    );
    // On a group that does not follow the adaptive policy: refused, not ignored.
    config::clear();
    let e = config::load_str(
        "app.toml",
        "[groups.\"app::store\"]\nadaptive_backoff = 0.5\n",
    )
    .unwrap_err();
    assert_eq!(
        e.origin().cloned(),
        Some(Origin::File {
            path: "app.toml".into(),
            line: 2,
            column: 20
        })
    );
    assert!(e.message().contains("policy is \"adaptive\""), "{e}");
    let e = config::load_str(
        "app.toml",
        "[groups.\"app::store\"]\nadaptive_tolerence = 2\n",
    )
    .unwrap_err();
    assert!(
        e.message().contains("did you mean `adaptive_tolerance`?"),
        "{e}"
    );
}

/// The adaptive parameters are settings of their own, laid one layer over
/// another for the policy the group ends up with: they belong to the
/// autoscaled kind with the policy (set aside with it by a layer that makes
/// the group fixed, refused where given in a layer where it is fixed), and
/// each value is checked where it is written, even one a stronger layer
/// replaced.
#[test]
fn adaptive_parameters_belong_to_the_autoscaled_kind_and_are_checked_where_written() {
    let _serial = config_turn();
    static KINDS: Group = Group::new(GroupSpec::new("app::adaptive_kinds").size(2));
    register_group!(KINDS);
    // Given where the group is fixed: refused there, though the environment
    // makes it autoscaled and adaptive (it would lose them).
    config::load_env_from(vars(&[
        ("POOLED_APP__ADAPTIVE_KINDS_KIND", "autoscale"),
        ("POOLED_APP__ADAPTIVE_KINDS_POLICY", "adaptive"),
    ]))
    .unwrap();
    let e = load_err("[groups.\"app::adaptive_kinds\"]\nadaptive_tolerance = 2\n");
    assert_eq!(e.origin().cloned(), at(2, 22), "{e}");
    assert!(e.message().contains("policy is \"adaptive\""), "{e}");
    // Said next to `kind = "autoscale"`, they are the group's.
    config::load_str(
        "app.toml",
        "[groups.\"app::adaptive_kinds\"]\nkind = \"autoscale\"\nadaptive_tolerance = 2\n",
    )
    .unwrap();
    let ScalePolicy::Adaptive(params) = KINDS.settings().policy else {
        panic!("adaptive: {:?}", KINDS.settings());
    };
    assert_eq!(params.tolerance, 2.0);
    // A bad value the environment replaces is still refused where written.
    config::clear();
    config::load_env_from(vars(&[
        ("POOLED_APP__STORE_POLICY", "adaptive"),
        ("POOLED_APP__STORE_ADAPTIVE_BACKOFF", "0.5"),
    ]))
    .unwrap();
    let e = load_err("[groups.\"app::store\"]\nadaptive_backoff = 2\n");
    assert_eq!(e.origin().cloned(), at(2, 20), "{e}");
    assert!(e.message().contains("AdaptiveSettings::backoff"), "{e}");
    config::clear();
    assert_eq!(KINDS.settings().kind, Kind::Fixed);
}

#[test]
fn an_autoscaled_groups_size_is_where_it_starts_from_every_surface() {
    let _serial = config_turn();
    static START: Group = Group::new(
        GroupSpec::new("app::start")
            .kind(Kind::Autoscale)
            .min(1)
            .max(10)
            .size(4),
    );
    register_group!(START);
    assert_eq!(START.settings().starting_size(), 4, "declared");
    config::load_str("app.toml", "[groups.\"app::start\"]\nsize = 7\n").unwrap();
    assert_eq!(START.settings().starting_size(), 7, "from the file");
    let e = config::load_str("app.toml", "[groups.\"app::start\"]\nsize = 11\n").unwrap_err();
    let at = Origin::File {
        path: "app.toml".into(),
        line: 2,
        column: 8,
    };
    assert_eq!(e.origin(), Some(&at), "{e}");
    assert!(e.message().contains("outside"), "{e}");
    config::clear();
    // The builder takes the same setting with the same meaning.
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(10)
        .size(7)
        .build()
        .unwrap();
    assert_eq!(pool.size(), 7);
}

#[test]
fn a_layer_that_changes_the_kind_drops_the_other_kinds_settings_from_below() {
    let _serial = config_turn();
    static SWITCH: Group = Group::new(
        GroupSpec::new("app::switch")
            .kind(Kind::Autoscale)
            .min(2)
            .max(6),
    );
    register_group!(SWITCH);
    // The declared bounds belong to the autoscaled kind: a file that makes
    // the group fixed is not refused for them.
    config::load_str(
        "app.toml",
        "[groups.\"app::switch\"]\nkind = \"fixed\"\nsize = 5\n",
    )
    .unwrap();
    let s = SWITCH.settings();
    assert_eq!(
        (s.kind, s.starting_size(), s.min, s.max),
        (Kind::Fixed, 5, None, None)
    );
    // Bounds set in the same layer as the fixed kind are still refused.
    let e = config::load_str(
        "app.toml",
        "[groups.\"app::switch\"]\nkind = \"fixed\"\nmin = 1\n",
    )
    .unwrap_err();
    assert!(e.message().contains("apply to autoscaled groups"), "{e}");
    config::clear();
}

/// A temporary configuration file, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("pooled-{name}-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.0, text).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn fetch_size(size: usize) -> String {
    format!("[groups.\"app::fetch\"]\nsize = {size}\n")
}

#[test]
fn watch_reloads_each_change_reports_errors_once_and_stops_when_dropped() {
    use std::sync::mpsc;
    let _serial = config_turn();
    let file = TempFile::new("watch", &fetch_size(3));
    let (tx, rx) = mpsc::channel();
    let watch = config::watch(&file.0, Duration::from_millis(5), move |outcome| {
        let _ = tx.send(outcome.map_err(|e| e.to_string()));
    })
    .unwrap();
    assert_eq!(
        FETCH.settings().size,
        Some(3),
        "loaded before watch returns"
    );
    let next = || rx.recv_timeout(Duration::from_secs(10)).expect("a reload");

    file.write(&fetch_size(5));
    assert!(next().is_ok());
    assert_eq!(FETCH.settings().size, Some(5));

    // A bad file changes nothing and names the position.
    file.write("[groups.\"app::fetch\"]\nsize = -1\n");
    let error = next().unwrap_err();
    assert!(error.contains(":2:8:"), "{error}");
    assert_eq!(FETCH.settings().size, Some(5));

    // Gone for a while: one error, not one per look.
    std::fs::remove_file(&file.0).unwrap();
    let error = next().unwrap_err();
    assert!(
        error.contains("cannot read the configuration file"),
        "{error}"
    );
    std::thread::sleep(Duration::from_millis(60));
    assert!(
        rx.try_recv().is_err(),
        "the same read error is reported once"
    );
    file.write(&fetch_size(2));
    assert!(next().is_ok());
    assert_eq!(FETCH.settings().size, Some(2));

    // Gone, then back with the very content it had: the callback that heard
    // the error hears that the file is back (a reload that changes nothing).
    std::fs::remove_file(&file.0).unwrap();
    assert!(next().is_err());
    file.write(&fetch_size(2));
    let back = next().expect("the file back is reported");
    assert!(back.changes.is_empty(), "{back:?}");
    assert_eq!(FETCH.settings().size, Some(2));

    // Dropped: no more looks.
    drop(watch);
    file.write(&fetch_size(7));
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(FETCH.settings().size, Some(2));
    assert!(rx.try_recv().is_err());
}

#[test]
fn watch_refuses_a_zero_interval_and_a_bad_first_load_and_survives_its_callback() {
    use std::sync::mpsc;
    let _serial = config_turn();
    let file = TempFile::new("watch-bad", "[groups.\"app::fecth\"]\nsize = 3\n");
    let error = config::watch(&file.0, Duration::from_millis(5), |_| {}).unwrap_err();
    assert!(
        error.to_string().contains("did you mean `app::fetch`"),
        "{error}"
    );
    let error = config::watch(&file.0, Duration::ZERO, |_| {}).unwrap_err();
    assert!(error.to_string().contains("longer than zero"), "{error}");

    // A callback that panics, and one that drops its own watch.
    file.write(&fetch_size(3));
    let (tx, rx) = mpsc::channel();
    let own = Arc::new(Mutex::new(None));
    let watch = config::watch(&file.0, Duration::from_millis(5), {
        let own = own.clone();
        let mut calls = 0;
        move |outcome: Result<config::Report, config::ConfigError>| {
            calls += 1;
            let _ = tx.send(outcome.is_ok());
            match calls {
                1 => panic!("a callback that panics"),
                _ => drop(own.lock().unwrap().take()),
            }
        }
    })
    .unwrap();
    *own.lock().unwrap() = Some(watch);
    file.write(&fetch_size(4));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
    file.write(&fetch_size(6));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "the watch goes on after its callback panicked"
    );
    assert_eq!(FETCH.settings().size, Some(6));
    // The callback dropped the watch from its own thread: it stops.
    file.write(&fetch_size(8));
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(FETCH.settings().size, Some(6));
    assert!(own.lock().unwrap().is_none());
}

/// The attribute refuses `fleet_url`, `fleet_lease` and `fleet_unreachable`
/// without `fleet_limit` (they configure nothing then); a file's group table
/// and the environment refuse them by the same rule, at the key's file, line
/// and column or at the variable, and the load changes nothing. With a limit
/// from any layer, or from a `[defaults]` table (whose fleet keys are for the
/// groups that have a limit), they are accepted.
#[test]
fn fleet_keys_without_a_fleet_limit_are_a_load_error_at_their_place() {
    let _serial = config_turn();
    static LIMITED: Group = Group::new(GroupSpec::new("app::fleet_limited").fleet_limit(2));
    register_group!(LIMITED);
    let at = |line, column| {
        Some(Origin::File {
            path: "fleet.toml".into(),
            line,
            column,
        })
    };
    for (key, value) in [
        ("fleet_url", "\"redis://127.0.0.1:1\""),
        ("fleet_lease", "\"5s\""),
        ("fleet_unreachable", "\"local\""),
    ] {
        let e = config::load_str(
            "fleet.toml",
            &format!("[groups.\"app::fetch\"]\nsize = 4\n{key} = {value}\n"),
        )
        .unwrap_err();
        assert_eq!(e.origin().cloned(), at(3, key.len() + 4), "{e}");
        assert_eq!(
            e.message(),
            format!("group `app::fetch`: `{key}` applies to a fleet limit: add `fleet_limit = N`")
        );
        assert_eq!(FETCH.settings().starting_size(), 2, "nothing changed");
        let var = format!("POOLED_APP__FETCH_{}", key.to_uppercase());
        let e = config::load_env_from(vars(&[(&var, value.trim_matches('"'))])).unwrap_err();
        assert_eq!(e.origin(), Some(&Origin::Env { var: var.clone() }), "{e}");
        assert!(
            e.message()
                .contains(&format!("`{key}` applies to a fleet limit")),
            "{e}"
        );
        assert_eq!(FETCH.settings().fleet.url, None, "nothing changed");
    }
    // With a limit: the declaration's, the same table's, or the environment's.
    config::load_str(
        "fleet.toml",
        "[groups.\"app::fleet_limited\"]\nfleet_unreachable = \"local\"\n",
    )
    .unwrap();
    if cfg!(feature = "redis") {
        config::load_str(
            "fleet.toml",
            "[groups.\"app::fetch\"]\nfleet_limit = 3\nfleet_url = \"redis://127.0.0.1:1\"\n",
        )
        .unwrap();
        config::clear();
        config::load_env_from(vars(&[
            ("POOLED_APP__FETCH_FLEET_LIMIT", "3"),
            ("POOLED_APP__FETCH_FLEET_URL", "redis://127.0.0.1:1"),
        ]))
        .unwrap();
    }
    config::clear();
    // A `[defaults]` table's fleet keys are no error for groups without a
    // limit.
    config::load_str(
        "fleet.toml",
        "[defaults]\nfleet_lease = \"5s\"\nfleet_unreachable = \"local\"\n",
    )
    .unwrap();
    config::clear();
}

/// A group's call waiting for a ceiling slot is not yet the group's (as
/// `Group::stats`, `Stats::waiting` and the `ceiling` module say): the
/// ceiling's stats count it as waiting, the group's neither as submitted
/// nor as waiting; once it has its ceiling slot it is the group's, and
/// both add up.
#[test]
fn a_group_call_waiting_for_the_ceiling_is_counted_by_the_ceiling_not_yet_by_its_group() {
    let _serial = config_turn();
    static HOLDS: Group = Group::new(GroupSpec::new("app::ceiling_holder").size(1));
    static WAITS: Group = Group::new(GroupSpec::new("app::ceiling_waiter").size(1));
    register_group!(HOLDS);
    register_group!(WAITS);
    config::load_str("app.toml", "ceiling = 1\n").unwrap();
    let held = HOLDS.try_acquire(0).unwrap();
    let before = WAITS.stats();
    let mut call = common::Task::new(WAITS.submit(0, async { 1 }));
    call.assert_pending();
    let ceiling = pool_runtime::ceiling::stats().unwrap();
    assert_eq!(ceiling.waiting, 1, "{ceiling:?}");
    let group = WAITS.stats();
    assert_eq!(
        (group.waiting, group.submitted()),
        (before.waiting, before.submitted()),
        "not yet the group's: {group:?}"
    );
    drop(held);
    assert!(call.is_woken());
    assert_eq!(call.assert_ready(), Ok(1));
    let group = WAITS.stats();
    assert_eq!(group.submitted(), before.submitted() + 1, "{group:?}");
    common::assert_accounted(&group);
    common::assert_accounted(&pool_runtime::ceiling::stats().unwrap());
    config::clear();
}

/// A group declared with a waiting bound and an admission timeout: a layer
/// removes both with `"none"` (file) or `none` (environment), the running
/// pool waits without them, and clearing the configuration brings the
/// declared ones back. Bad spellings are errors that say `none` is accepted.
#[test]
fn none_removes_a_declared_waiting_bound_and_admission_timeout_from_every_surface() {
    use std::sync::mpsc;
    static BOUNDED: Group = Group::new(
        GroupSpec::new("app::bounded")
            .size(1)
            .max_waiting(1)
            .admission_timeout(Duration::from_millis(1)),
    );
    register_group!(BOUNDED);
    let _serial = config_turn();
    config::clear();

    /// Holds the group's one slot until the returned sender is dropped,
    /// starts `callers` sync calls behind it and returns their outcomes.
    fn behind_a_held_slot(callers: usize, release_when: impl Fn() -> bool) -> Vec<bool> {
        let (held_tx, held_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            BOUNDED
                .run(|| {
                    held_tx.send(()).unwrap();
                    let _ = release_rx.recv();
                })
                .unwrap()
        });
        held_rx.recv().unwrap();
        let calls: Vec<_> = (0..callers)
            .map(|_| std::thread::spawn(|| BOUNDED.run(|| ()).is_ok()))
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !release_when() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(release_tx);
        holder.join().unwrap();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    }

    // Declared: at most one waits, for at most 1 ms.
    let ran = behind_a_held_slot(3, || {
        let s = BOUNDED.stats();
        s.rejected_for(Rejected::Full) + s.rejected_for(Rejected::TimedOut) >= 3
    });
    assert_eq!(ran, vec![false; 3], "the declared bounds turn them away");

    let report = config::load_str(
        "app.toml",
        "[groups.\"app::bounded\"]\nmax_waiting = \"none\"\nadmission_timeout = \"none\"\n",
    )
    .unwrap();
    assert_eq!(BOUNDED.settings().max_waiting, None, "{report}");
    assert_eq!(BOUNDED.settings().admission_timeout, None, "{report}");
    assert_eq!(BOUNDED.pool().max_waiting(), None);
    assert_eq!(BOUNDED.pool().admission_timeout(), None);
    for setting in ["max_waiting", "admission_timeout"] {
        assert!(
            report.changes.iter().any(|c| c.group == "app::bounded"
                && c.setting == setting
                && c.to == "none"
                && c.effect == Effect::Applied),
            "{setting}: {report}"
        );
    }
    let before = BOUNDED.stats();
    let ran = behind_a_held_slot(3, || BOUNDED.stats().waiting == 3);
    assert_eq!(ran, vec![true; 3], "without bounds all three wait and run");
    let after = BOUNDED.stats();
    assert_eq!(after.rejected_total(), before.rejected_total());

    // The environment's spelling, over a file that sets them again.
    config::load_str(
        "app.toml",
        "[groups.\"app::bounded\"]\nmax_waiting = 5\nadmission_timeout = \"5s\"\n",
    )
    .unwrap();
    assert_eq!(BOUNDED.pool().max_waiting(), Some(5));
    config::load_env_from(vars(&[
        ("POOLED_APP__BOUNDED_MAX_WAITING", "none"),
        ("POOLED_APP__BOUNDED_ADMISSION_TIMEOUT", " none "),
    ]))
    .unwrap();
    assert_eq!(
        BOUNDED.pool().max_waiting(),
        None,
        "the environment beats the file"
    );
    assert_eq!(BOUNDED.pool().admission_timeout(), None);

    // Bad spellings say what is accepted; they change nothing.
    let before = BOUNDED.settings();
    let e = load_err("[groups.\"app::bounded\"]\nmax_waiting = \"None\"\n");
    assert_eq!(e.origin().cloned(), at(2, 15), "{e}");
    assert!(
        e.message().contains("expected an integer, found string")
            && e.message()
                .contains("(or the string \"none\" for no bound)"),
        "{e}"
    );
    let e = load_err("[groups.\"app::bounded\"]\nadmission_timeout = \"never\"\n");
    assert!(
        e.message().contains("invalid duration `never`")
            && e.message().contains("or `none` for no bound"),
        "{e}"
    );
    let e =
        config::load_env_from(vars(&[("POOLED_APP__BOUNDED_MAX_WAITING", "nothing")])).unwrap_err();
    assert!(e.message().contains("or `none` for no bound"), "{e}");
    // Settings that are not optional bounds do not take the word.
    let e = load_err("[groups.\"app::bounded\"]\nsize = \"none\"\n");
    assert!(
        e.message().contains("expected an integer, found string") && !e.message().contains("none"),
        "{e}"
    );
    let e =
        config::load_env_from(vars(&[("POOLED_APP__BOUNDED_SYNC_BARGING", "none")])).unwrap_err();
    assert!(e.message().contains("invalid duration `none`"), "{e}");
    assert_eq!(BOUNDED.settings(), before, "no bad load changed anything");

    let report = config::clear();
    assert_eq!(BOUNDED.settings().max_waiting, Some(1), "{report}");
    assert_eq!(
        BOUNDED.pool().admission_timeout(),
        Some(Duration::from_millis(1)),
        "the declared bounds are back"
    );
}

/// A load applied to a running pool wakes the calls it admits on the
/// loading thread, outside the configuration lock. A waker that starts a
/// load of its own there is refused with an error (it would wait for the
/// load that woke it), and `clear()` from there changes nothing; the outer
/// load completes, and loads work again afterwards.
#[test]
fn a_load_started_by_a_waker_of_a_load_is_refused_and_the_outer_load_completes() {
    use std::future::Future;
    use std::task::{Context, Wake, Waker};
    static NESTED_LOAD: Group = Group::new(GroupSpec::new("app::nested_load").size(1));
    register_group!(NESTED_LOAD);
    struct Loads(Mutex<Vec<Result<usize, String>>>);
    impl Wake for Loads {
        fn wake(self: Arc<Self>) {
            let inner = config::load_str("inner.toml", "").map(|r| r.changes.len());
            let cleared = config::clear();
            let mut seen = self.0.lock().unwrap();
            seen.push(inner.map_err(|e| e.to_string()));
            seen.push(Ok(cleared.changes.len()));
        }
    }
    let _serial = config_turn();
    config::clear();
    let holder = NESTED_LOAD.try_acquire_owned(0).unwrap();
    let mut call = Box::pin(NESTED_LOAD.submit(0, async { 7 }));
    let loads = Arc::new(Loads(Mutex::new(Vec::new())));
    let waker = Waker::from(loads.clone());
    assert!(call
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());

    let report = config::load_str(
        "app.toml",
        "[groups.\"app::nested_load\"]\nsize = 2\nmax_waiting = 4\n",
    )
    .expect("the outer load");
    let seen = loads.0.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        2,
        "the waker ran once, during the load: {seen:?}"
    );
    let refused = seen[0].as_ref().expect_err("the inner load is refused");
    assert!(
        refused.contains("cannot start while one is being applied"),
        "{refused}"
    );
    assert_eq!(seen[1], Ok(0), "clear() from the waker changes nothing");
    assert_eq!(NESTED_LOAD.size(), 2, "{report}");
    assert_eq!(
        NESTED_LOAD.settings().max_waiting,
        Some(4),
        "the whole load applied"
    );
    assert_eq!(
        call.as_mut().poll(&mut Context::from_waker(Waker::noop())),
        std::task::Poll::Ready(Ok(7))
    );
    drop(holder);
    let report = config::clear();
    assert_eq!(NESTED_LOAD.size(), 1, "loads work again: {report}");
}
