//! Acceptance tests, round 21 (runtime): the adaptive policy's parameters
//! laid by one configuration layer and the policy by another, and more
//! promises of the README and the rustdoc. Waits are bounded only to turn a
//! hang into a failure.
#![cfg(feature = "config")]

mod common;
use common::{config_turn, vars};
use pool_runtime::{config, register_group, AdaptiveSettings, Group, GroupSpec, Kind, ScalePolicy};

/// The adaptive parameters of a group's settings (panics if not adaptive).
#[track_caller]
fn adaptive_of(group: &Group) -> AdaptiveSettings {
    match group.settings().policy {
        ScalePolicy::Adaptive(params) => params,
        other => panic!(
            "{}: expected the adaptive policy, got {other:?}",
            group.name()
        ),
    }
}

static TABLE_PARAMS: Group = Group::new(
    GroupSpec::new("r21rt::table_params")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8),
);
register_group!(TABLE_PARAMS);

/// README, "Configuration": "Precedence: attribute < file `[defaults]` < file
/// group table < environment", and the `adaptive_*` keys "(on a group whose
/// policy is not adaptive they are an error, not ignored)". A group table
/// that sets `adaptive_tolerance` on a group the environment makes adaptive
/// (`POOLED_<G>_POLICY=adaptive`): the load is accepted (the group's policy is
/// adaptive), so the file's parameter must be in force, not silently dropped.
/// The control: the same parameter with `policy = "adaptive"` in the table.
#[test]
fn a_tables_adaptive_parameter_holds_when_the_environment_names_the_policy() {
    let _turn = config_turn();
    // The control: the file names both.
    config::load_str(
        "r21.toml",
        "[groups.\"r21rt::table_params\"]\npolicy = \"adaptive\"\nadaptive_tolerance = 3.5\n",
    )
    .unwrap();
    assert_eq!(adaptive_of(&TABLE_PARAMS).tolerance, 3.5);
    config::clear();

    // The policy from the environment, the parameter from the file.
    config::load_env_from(vars(&[("POOLED_R21RT__TABLE_PARAMS_POLICY", "adaptive")])).unwrap();
    let loaded = config::load_str(
        "r21.toml",
        "[groups.\"r21rt::table_params\"]\nadaptive_tolerance = 3.5\n",
    );
    let result = loaded.map(|_| adaptive_of(&TABLE_PARAMS).tolerance);
    config::clear();
    assert_eq!(
        result,
        Ok(3.5),
        "the file's adaptive_tolerance on a group whose policy is adaptive is neither in force nor an error"
    );
}

static DEFAULT_PARAMS: Group = Group::new(
    GroupSpec::new("r21rt::default_params")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8),
);
register_group!(DEFAULT_PARAMS);

/// `pool_runtime::config` (Precedence): "2. the file's `[defaults]` table
/// (... its `policy` to groups autoscaled by then, and its `adaptive_*`
/// parameters to groups whose policy is adaptive ...)". A group made adaptive
/// by its own table is a group whose policy is adaptive: the `[defaults]`
/// table's `adaptive_backoff` applies to it. The control: a group the
/// `[defaults]` table itself makes adaptive takes it.
#[test]
fn the_defaults_adaptive_parameters_reach_a_group_its_table_makes_adaptive() {
    let _turn = config_turn();
    let backoff = 0.25;
    assert_ne!(AdaptiveSettings::default().backoff, backoff);
    // The control: `[defaults]` names the policy too.
    config::load_str(
        "r21.toml",
        "[defaults]\npolicy = \"adaptive\"\nadaptive_backoff = 0.25\n",
    )
    .unwrap();
    assert_eq!(adaptive_of(&DEFAULT_PARAMS).backoff, backoff);
    config::clear();

    let loaded = config::load_str(
        "r21.toml",
        "[defaults]\nadaptive_backoff = 0.25\n\n\
         [groups.\"r21rt::default_params\"]\npolicy = \"adaptive\"\n",
    );
    let result = loaded.map(|_| adaptive_of(&DEFAULT_PARAMS).backoff);
    config::clear();
    assert_eq!(
        result,
        Ok(backoff),
        "[defaults] adaptive_backoff on a group whose policy is adaptive"
    );
}

static DECLARED_PARAMS: Group = Group::new(
    GroupSpec::new("r21rt::declared_params")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
            tolerance: 2.5,
            ..AdaptiveSettings::DEFAULT
        })),
);
register_group!(DECLARED_PARAMS);

/// `pool_runtime::config` (Precedence: attribute < `[defaults]` < group table
/// < environment, one setting at a time): each layer's `adaptive_*` key
/// replaces that parameter alone; the others keep what a weaker layer (the
/// declaration included) gave, whichever layer names the policy again.
#[test]
fn each_layer_sets_its_own_adaptive_parameters_over_the_declarations() {
    let _turn = config_turn();
    let declared = adaptive_of(&DECLARED_PARAMS);
    assert_eq!(declared.tolerance, 2.5);
    config::load_str(
        "r21.toml",
        "[defaults]\nadaptive_smoothing = 0.5\n\n\
         [groups.\"r21rt::declared_params\"]\npolicy = \"adaptive\"\nadaptive_backoff = 0.25\n",
    )
    .unwrap();
    config::load_env_from(vars(&[
        ("POOLED_R21RT__DECLARED_PARAMS_POLICY", "adaptive"),
        (
            "POOLED_R21RT__DECLARED_PARAMS_ADAPTIVE_DROP_TOLERANCE",
            "0.125",
        ),
    ]))
    .unwrap();
    let params = adaptive_of(&DECLARED_PARAMS);
    config::clear();
    assert_eq!(
        (
            params.tolerance,
            params.smoothing,
            params.backoff,
            params.drop_tolerance,
            params.window_samples
        ),
        (
            2.5,
            0.5,
            0.25,
            0.125,
            AdaptiveSettings::DEFAULT.window_samples
        )
    );
    assert_eq!(
        adaptive_of(&DECLARED_PARAMS),
        declared,
        "clear() goes back to the declaration"
    );
}

static FLIPPED_PARAMS: Group = Group::new(GroupSpec::new("r21rt::flipped_params").size(4));
register_group!(FLIPPED_PARAMS);

/// `pool_runtime::config` (Precedence): "`size` (where it starts), `min`,
/// `max` and `policy` set while it is autoscaled are the autoscaled group's.
/// A layer that changes the kind sets aside what the layers below it set for
/// the kind the group leaves ... the bounds or start the table set in between
/// are set aside, not used, and not an error." A table that makes a fixed
/// group adaptive, parameters included, and an environment that makes it
/// fixed again: a fixed group of 4, no error.
#[test]
fn a_tables_adaptive_policy_and_parameters_are_set_aside_when_the_environment_makes_the_group_fixed(
) {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_R21RT__FLIPPED_PARAMS_KIND", "fixed")])).unwrap();
    let loaded = config::load_str(
        "r21.toml",
        "[groups.\"r21rt::flipped_params\"]\nkind = \"autoscale\"\nmin = 2\nmax = 6\n\
         policy = \"adaptive\"\nadaptive_tolerance = 2.0\n",
    );
    let settings = FLIPPED_PARAMS.settings();
    config::clear();
    let loaded = loaded.map(|_| ());
    assert_eq!(loaded, Ok(()), "set aside, not an error");
    assert_eq!(
        (settings.kind, settings.starting_size(), settings.policy),
        (Kind::Fixed, 4, ScalePolicy::QueueDepth)
    );
}

/// The rows of `report` about `group`, as `(setting, from, to, effect)`.
fn rows(report: &config::Report, group: &str) -> Vec<(String, String, String, config::Effect)> {
    report
        .changes
        .iter()
        .filter(|c| c.group == group)
        .map(|c| (c.setting.to_owned(), c.from.clone(), c.to.clone(), c.effect))
        .collect()
}

static HAND_BOUNDS: Group = Group::new(
    GroupSpec::new("r21rt::hand_bounds")
        .kind(Kind::Autoscale)
        .min(2)
        .max(8),
);
register_group!(HAND_BOUNDS);

/// README, "Configuration": "Bounds set by hand (`set_bounds` on a group's
/// pool) last until a reload changes the group's configured bounds: it then
/// sets both from the configuration (its report names the configured bound
/// that changed)"; and "a load that changes the kind changes nothing in it,
/// and one that brings its kind back resizes it only if that kind's counts
/// changed" (`pool_runtime::config`).
#[test]
fn bounds_set_by_hand_last_until_a_reload_changes_the_configured_bounds() {
    let _turn = config_turn();
    let name = HAND_BOUNDS.name();
    let pool = HAND_BOUNDS.pool();
    assert_eq!((pool.bounds(), pool.size()), ((2, 8), 2));
    assert_eq!(pool.set_bounds(4, 6), Ok(4));

    // A reload about something else leaves the hand-set bounds alone.
    let report = config::load_str(
        "r21.toml",
        "[groups.\"r21rt::hand_bounds\"]\nmax_waiting = 5\n",
    )
    .unwrap();
    assert_eq!(
        rows(&report, name),
        vec![(
            "max_waiting".into(),
            "none".into(),
            "5".into(),
            config::Effect::Applied
        )]
    );
    assert_eq!(
        (pool.bounds(), pool.size(), pool.max_waiting()),
        ((4, 6), 4, Some(5))
    );

    // A reload that gives the group another kind changes nothing in the
    // running pool; the one that gives its kind back with the same counts
    // resizes nothing either.
    config::load_env_from(vars(&[("POOLED_R21RT__HAND_BOUNDS_KIND", "fixed")])).unwrap();
    assert_eq!((pool.bounds(), pool.size()), ((4, 6), 4));
    let report = config::load_env_from(vars(&[])).unwrap();
    assert!(
        rows(&report, name)
            .iter()
            .all(|r| r.3 != config::Effect::Applied && r.0 != "min" && r.0 != "max"),
        "{report}"
    );
    assert_eq!((pool.bounds(), pool.size()), ((4, 6), 4));

    // The configured `max` changes: both bounds come from the configuration,
    // and the report names `max` alone.
    let report = config::load_str(
        "r21.toml",
        "[groups.\"r21rt::hand_bounds\"]\nmax_waiting = 5\nmax = 10\n",
    )
    .unwrap();
    config::clear();
    assert_eq!(
        rows(&report, name),
        vec![(
            "max".into(),
            "8".into(),
            "10".into(),
            config::Effect::Applied
        )],
        "{report}"
    );
    assert_eq!(
        pool.bounds(),
        (2, 8),
        "clear() went back to the declared bounds"
    );
}

static RUNNING_ADAPTIVE: Group = Group::new(
    GroupSpec::new("r21rt::running_adaptive")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT)),
);
register_group!(RUNNING_ADAPTIVE);

/// README, "Configuration": a reload "returns a report of what changed and
/// when it takes effect (kind, order, `policy` and its `adaptive_*`
/// parameters, `executor` and the `fleet_*` keys at the group's next
/// start)" — each by its key, as in the file (`Change::setting`: "The
/// setting's name, as in the file"); `Group::settings`: "The settings in force: those applied to the
/// running pool, or those it would start with". Before the first use the
/// same change is reported for the first use.
#[test]
fn a_reload_of_adaptive_parameters_is_for_the_next_start_of_a_running_group() {
    let _turn = config_turn();
    let name = RUNNING_ADAPTIVE.name();
    let text = "[groups.\"r21rt::running_adaptive\"]\nadaptive_tolerance = 4.0\norder = \"lifo\"\n";
    assert!(!RUNNING_ADAPTIVE.is_started());
    let report = config::load_str("r21.toml", text).unwrap();
    let effects: Vec<_> = rows(&report, name)
        .into_iter()
        .map(|r| (r.0, r.3))
        .collect();
    assert_eq!(
        effects,
        vec![
            ("order".to_owned(), config::Effect::AtFirstUse),
            ("adaptive_tolerance".to_owned(), config::Effect::AtFirstUse)
        ],
        "{report}"
    );
    assert_eq!(adaptive_of(&RUNNING_ADAPTIVE).tolerance, 4.0);
    config::clear();

    assert_eq!(RUNNING_ADAPTIVE.size(), 1, "started");
    let report = config::load_str("r21.toml", text).unwrap();
    let effects: Vec<_> = rows(&report, name)
        .into_iter()
        .map(|r| (r.0, r.3))
        .collect();
    let running = RUNNING_ADAPTIVE.settings();
    config::clear();
    assert_eq!(
        effects,
        vec![
            ("order".to_owned(), config::Effect::AtRestart),
            ("adaptive_tolerance".to_owned(), config::Effect::AtRestart)
        ],
        "{report}"
    );
    assert_eq!(
        (running.order, running.policy),
        (
            pool_runtime::Order::Fifo,
            ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT)
        ),
        "the running pool's settings"
    );
    assert_eq!(RUNNING_ADAPTIVE.pool().order(), pool_runtime::Order::Fifo);
}

/// README, "Fleet limits": "A bad value (a limit of 0, a URL that is not
/// `redis://` or `unix://`, a lease outside 100 ms..24 h, a build without
/// `redis`) is refused where it is written: ... a load error at the file's
/// line and column or the variable." A `[defaults]` table's fleet keys are
/// for the groups that have a limit, which makes a valid one no error for
/// the others (the control), but a bad one is still a bad value written in
/// the file: this binary has no group with a fleet limit, and the load takes
/// a 50 ms lease and an `http://` URL without a word.
#[cfg(feature = "redis")]
#[test]
fn a_bad_fleet_value_in_the_defaults_table_is_refused_where_it_is_written() {
    let _turn = config_turn();
    // The control: valid values, no group with a limit: no error.
    config::load_str("r21.toml", "[defaults]\nfleet_lease = \"5s\"\n").unwrap();
    config::clear();
    let lease = config::load_str("r21.toml", "[defaults]\nfleet_lease = \"50ms\"\n");
    config::clear();
    let url = config::load_str(
        "r21.toml",
        "[defaults]\nfleet_url = \"http://127.0.0.1:1\"\n",
    );
    config::clear();
    let at = |column| {
        Some(config::Origin::File {
            path: "r21.toml".into(),
            line: 2,
            column,
        })
    };
    assert_eq!(
        lease.as_ref().err().and_then(|e| e.origin().cloned()),
        at(15),
        "a 50 ms lease: {lease:?}"
    );
    assert_eq!(
        url.as_ref().err().and_then(|e| e.origin().cloned()),
        at(13),
        "an http:// URL: {url:?}"
    );
}

#[cfg(feature = "test-util")]
static ISO_RELOADED: Group = Group::new(GroupSpec::new("r21rt::iso_reloaded").size(2));
#[cfg(feature = "test-util")]
register_group!(ISO_RELOADED);

/// `Group::isolate`: "a fresh pool with the group's effective settings";
/// `Group::pool`: a pool "built on first use with its effective settings
/// (the spec under application-wide configuration)"; README: a reload's
/// kind, order, policy and executor take effect "at the group's next start".
/// An instance is a fresh pool: isolated after a reload that gave a running
/// group another order and kind, it starts with them, as a group started
/// after the reload would; the shared pool keeps what it runs with.
#[cfg(feature = "test-util")]
#[test]
fn an_instance_isolated_after_a_reload_starts_with_the_loaded_order_and_kind() {
    let _turn = config_turn();
    // The shared pool starts, fixed FIFO.
    assert_eq!(
        std::thread::spawn(|| (ISO_RELOADED.size(), ISO_RELOADED.pool().order()))
            .join()
            .unwrap(),
        (2, pool_runtime::Order::Fifo)
    );
    let report = config::load_str(
        "r21.toml",
        "[groups.\"r21rt::iso_reloaded\"]\norder = \"lifo\"\nkind = \"autoscale\"\nmin = 1\nmax = 4\n",
    )
    .unwrap();
    let mine = ISO_RELOADED.isolate();
    let instance = (
        mine.pool().order(),
        mine.pool().kind(),
        mine.pool().bounds(),
    );
    drop(mine);
    let shared = std::thread::spawn(|| (ISO_RELOADED.pool().order(), ISO_RELOADED.pool().kind()))
        .join()
        .unwrap();
    config::clear();
    assert_eq!(shared, (pool_runtime::Order::Fifo, Kind::Fixed), "{report}");
    assert_eq!(
        instance,
        (pool_runtime::Order::Lifo, Kind::Autoscale, (1, 4)),
        "the instance is a fresh start: {report}"
    );
}

static DECLARED_START: Group = Group::new(
    GroupSpec::new("r21rt::declared_start")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(3),
);
register_group!(DECLARED_START);

/// `pool_runtime::config` (Bounds): "An autoscaled group's start (`size`)
/// that only its declaration gives is brought into the bounds a load gives:
/// `max = 2` for a group declared to start at 3 is no error, and it starts
/// at 2"; `GroupSettings::check`: "Every check a pool's settings must pass —
/// the one rule the builder, configuration and a reload apply — and, if they
/// pass, the slot count the pool starts with"; the fleet docs advise
/// checking `GROUP.settings().check()` at start-up. The settings a load
/// accepted pass that check, and say the pool starts at 2.
#[test]
fn a_declared_start_brought_into_loaded_bounds_passes_the_settings_check() {
    let _turn = config_turn();
    config::load_str("r21.toml", "[groups.\"r21rt::declared_start\"]\nmax = 2\n").unwrap();
    let settings = DECLARED_START.settings();
    config::clear();
    assert_eq!(settings.starting_size(), 2);
    assert_eq!(settings.check(), Ok((2, (1, 2))), "{settings:?}");
}

/// `Pool::drained`: "Resolves once the pool is closed and nothing is waiting
/// or running"; the reentrancy rule: "a nested call that outlives its parent
/// (returned out of the work, ...) keeps the slot busy until it ends". A
/// closed pool whose last top-level call returned a nested call still
/// running (a `submit` polled in the parent's work, and a permit) is not
/// drained until that call ends; the identity of `Stats` holds throughout.
#[test]
fn drained_waits_for_nested_calls_that_outlived_their_parent() {
    use common::{assert_accounted, gate, Task};
    use futures::executor::block_on;
    use std::future::Future;
    use std::pin::Pin;

    let pool = pool_runtime::Pool::fixed(1);
    let (work, open) = gate();
    let inner = pool.clone();
    type Nested = Pin<Box<dyn Future<Output = Result<(), pool_runtime::Rejected>> + Send>>;
    // Returned in a tuple: the work's output is the nested call, not awaited.
    let (nested,): (Nested,) = block_on(pool.submit(async move {
        let mut nested: Nested = Box::pin(async move { inner.submit(work).await });
        assert!(futures::poll!(nested.as_mut()).is_pending());
        (nested,)
    }))
    .unwrap();
    let mut nested = Task::new(nested);
    nested.assert_pending();
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!((s.running, s.nested, s.completed), (1, 0, 1), "{s:?}");
    assert_eq!(pool.try_acquire().err(), Some(pool_runtime::Rejected::Full));

    pool.close();
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(nested.assert_ready(), Ok(()));
    assert!(drained.is_woken(), "the nested call's end wakes drained()");
    drained.assert_ready();
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(
        (
            s.running,
            s.nested,
            s.waiting,
            s.completed,
            s.rejected_total()
        ),
        (0, 0, 0, 2, 1),
        "{s:?}"
    );
}

static PLACED: Group = Group::new(
    GroupSpec::new("r21rt::placed")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8),
);
register_group!(PLACED);

/// README, "Configuration": "Errors name the file, line and column (or the
/// variable)"; `ConfigError::origin`: "Where the offending value is: a file
/// position or an environment variable". An out-of-range `adaptive_smoothing`
/// next to a valid `adaptive_tolerance` is refused at the smoothing, in the
/// file (line 4) and in the environment (its variable) — not at the valid
/// tolerance a layer set first. The control: the smoothing alone.
#[test]
fn a_bad_adaptive_parameter_is_reported_where_it_is_written() {
    let _turn = config_turn();
    let file = |line, column| {
        Some(config::Origin::File {
            path: "r21.toml".into(),
            line,
            column,
        })
    };
    // The control: alone, the smoothing is refused at itself.
    let alone = config::load_str(
        "r21.toml",
        "[groups.\"r21rt::placed\"]\npolicy = \"adaptive\"\nadaptive_smoothing = 1.5\n",
    )
    .unwrap_err();
    assert_eq!(alone.origin().cloned(), file(3, 22), "{alone}");

    // Next to a valid tolerance, on the line above it.
    let in_file = config::load_str(
        "r21.toml",
        "[groups.\"r21rt::placed\"]\npolicy = \"adaptive\"\nadaptive_tolerance = 2.0\n\
         adaptive_smoothing = 1.5\n",
    )
    .unwrap_err();
    // A valid tolerance in the file, a bad smoothing in the environment.
    config::load_str(
        "r21.toml",
        "[groups.\"r21rt::placed\"]\npolicy = \"adaptive\"\nadaptive_tolerance = 2.0\n",
    )
    .unwrap();
    let var = "POOLED_R21RT__PLACED_ADAPTIVE_SMOOTHING";
    let in_env = config::load_env_from(vars(&[(var, "1.5")])).unwrap_err();
    config::clear();
    assert_eq!(in_file.origin().cloned(), file(4, 22), "{in_file}");
    assert_eq!(
        in_env.origin().cloned(),
        Some(config::Origin::Env { var: var.into() }),
        "{in_env}"
    );
}

/// `Group::isolate`: "Isolating a group the test already isolated nests: the
/// newest instance serves until its guard is dropped"; `Isolation`: "When
/// the guard is dropped ... New calls through the group go to the shared
/// pool (or an outer isolation's)". Guards dropped out of order: the outer
/// one first leaves the newest instance serving; dropping that one goes
/// back to the shared pool, which saw none of it.
#[cfg(feature = "test-util")]
#[test]
fn isolations_dropped_out_of_order_leave_the_newest_serving_then_the_shared_pool() {
    static NESTED: Group = Group::new(GroupSpec::new("r21rt::iso_out_of_order").size(1));
    // No load may move the shared pool meanwhile.
    let _turn = config_turn();
    let outer = NESTED.isolate();
    outer.pool().pause();
    let inner = NESTED.isolate();
    inner.pool().resize(3);
    assert_eq!(NESTED.size(), 3, "the newest instance serves");
    drop(outer);
    assert_eq!(
        NESTED.run(|| 1),
        Ok(1),
        "still the newest, which is not paused"
    );
    assert_eq!(NESTED.size(), 3);
    assert_eq!(inner.pool().stats().completed, 1);
    drop(inner);
    assert_eq!(NESTED.size(), 1, "the shared pool");
    assert_eq!(NESTED.run(|| 2), Ok(2));
    assert_eq!(NESTED.stats().completed, 1, "the shared pool saw one call");
}

#[cfg(feature = "test-util")]
static CEILED_HOLDER: Group = Group::new(GroupSpec::new("r21rt::ceiled_holder").size(2));
#[cfg(feature = "test-util")]
register_group!(CEILED_HOLDER);
#[cfg(feature = "test-util")]
static CEILED_ISOLATED: Group = Group::new(
    GroupSpec::new("r21rt::ceiled_isolated")
        .size(2)
        .max_waiting(0),
);
#[cfg(feature = "test-util")]
register_group!(CEILED_ISOLATED);

/// `pool_runtime::ceiling`: "While a ceiling is set, every group call takes
/// a ceiling slot before its group's slot"; README: `ceiling = 64` is "at
/// most 64 calls running across all groups", and an isolated group routes
/// "the test's calls through the group to a fresh pool". A call of an
/// isolated group is still a group call: under a ceiling of 1 held by
/// another group, the isolated group's never-waiting calls are turned away
/// (`Full`), and once the ceiling frees they run.
#[cfg(feature = "test-util")]
#[test]
fn an_isolated_groups_calls_are_still_under_the_ceiling() {
    let _turn = config_turn();
    config::load_str("r21.toml", "ceiling = 1\n").unwrap();
    let held = CEILED_HOLDER.try_acquire(0).unwrap();
    let mine = CEILED_ISOLATED.isolate();
    let refused = (
        CEILED_ISOLATED.run(|| ()),
        CEILED_ISOLATED.try_acquire(0).map(drop),
        futures::executor::block_on(CEILED_ISOLATED.submit(0, async {})),
    );
    drop(held);
    let after = CEILED_ISOLATED.run(|| 1);
    let stats = mine.pool().stats();
    drop(mine);
    config::clear();
    let full = Err(pool_runtime::Rejected::Full);
    assert_eq!(refused, (full, full, full), "{stats:?}");
    assert_eq!(after, Ok(1));
}
