//! Acceptance tests, round 32 (runtime): configuration as the README's
//! "Configuration" section and `pool_runtime::config`'s docs promise it:
//! every error names its file, line and column (or variable) and the valid
//! choices; `[defaults]` counts reach only the kind they belong to; a layer
//! changing the kind sets counts aside and brings them back; `none` removes
//! a bound, the environment beating the file; and every value written is
//! checked against the builder's bounds whether or not it reaches a group.
//!
//! Bugs kept as ignored tests:
//! `a_defaults_max_of_zero_is_refused_even_when_no_group_is_autoscaled` and
//! `a_defaults_min_above_its_max_is_refused_even_when_no_group_is_autoscaled`
//! (a `[defaults]` count the builder refuses is accepted when no group ends
//! up with the kind it belongs to), and
//! `a_max_of_zero_set_aside_by_the_environment_is_still_refused` (the same
//! for a group table's count that a stronger layer's `kind` sets aside).
#![cfg(all(not(miri), feature = "config"))]

mod common;

use common::{config_turn, vars};
use pool_runtime::{config, register_group, Group, GroupSpec, Kind, Pool};
use std::time::Duration;

static R32_FIXED: Group = Group::new(GroupSpec::new("r32::fixed").size(2));
register_group!(R32_FIXED);
static R32_AUTO: Group = Group::new(
    GroupSpec::new("r32::auto")
        .kind(Kind::Autoscale)
        .min(1)
        .max(6),
);
register_group!(R32_AUTO);
static R32_BOUNDED: Group = Group::new(
    GroupSpec::new("r32::bounded")
        .size(1)
        .max_waiting(5)
        .admission_timeout(Duration::from_secs(1)),
);
register_group!(R32_BOUNDED);

/// README, "Configuration": "Errors name the file, line and column (or the
/// variable) and the valid choices; a table naming no known group lists the
/// known ones with a "did you mean"", and a key in the wrong place says
/// where it goes (config module docs, "Sources"). Each bad file is refused
/// at the offending token, and changes nothing.
#[test]
fn config_errors_name_file_line_column_and_the_choices() {
    let _turn = config_turn();
    // (file, where, what the message must say)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[defaults]\nkind = \"autoscal\"\n",
            "app.toml:2:8",
            &["`fixed`", "`autoscale`"],
        ),
        (
            "[defaults]\norder = \"priorty\"\n",
            "app.toml:2:9",
            &["`fifo`", "`lifo`", "`priority`"],
        ),
        (
            "[defaults]\nexecutor = \"tokio\"\n",
            "app.toml:2:12",
            &["`default`", "`rayon`"],
        ),
        (
            "[defaults]\nsync_barging = \"1x\"\n",
            "app.toml:2:16",
            &["unit"],
        ),
        (
            "[defaults]\nadmission_timeout = 5\n",
            "app.toml:2:21",
            &["string", "none"],
        ),
        ("ceiling = \"64\"\n", "app.toml:1:11", &["integer"]),
        ("ceiling = 0\n", "app.toml:1:11", &["1 to 1073741823"]),
        ("ceilng = 4\n", "app.toml:1:1", &["did you mean `ceiling`"]),
        ("size = 4\n", "app.toml:1:1", &["[defaults]", "[groups."]),
        ("[defaults]\nceiling = 4\n", "app.toml:2:1", &["top-level"]),
        (
            "[defaults]\nmax_waiting = 1073741824\n",
            "app.toml:2:15",
            &["1073741823"],
        ),
        (
            "[defaults]\nautoscale_window = 5000\n",
            "app.toml:2:20",
            &["4096"],
        ),
        (
            "[defaults]\nautoscale_interval = \"0s\"\n",
            "app.toml:2:22",
            &["zero"],
        ),
        (
            "[defaults]\nadaptive_tolerance = 0.5\n",
            "app.toml:2:22",
            &["at least 1"],
        ),
        (
            "[defaults]\nadaptive_smoothing = 1.5\n",
            "app.toml:2:22",
            &["0 to 1"],
        ),
        (
            "[defaults]\nfleet_lease = \"1ms\"\n",
            "app.toml:2:15",
            &["100ms to 24h"],
        ),
        (
            "[groups.\"r32::fixed\"]\nmin = 1\n",
            "app.toml:2:7",
            &["r32::fixed", "fixed"],
        ),
        (
            "[groups.\"r32::fixed\"]\nadaptive_tolerance = 2.0\n",
            "app.toml:2:22",
            &["r32::fixed", "adaptive"],
        ),
        (
            "[groups.\"r32::fixed\"]\nfleet_lease = \"1s\"\n",
            "app.toml:2:15",
            &["fleet_limit"],
        ),
        (
            "[groups.\"r32::auto\"]\nsize = 9\n",
            "app.toml:2:8",
            &["r32::auto", "1..=6"],
        ),
        (
            "[groups.\"r32::auto\"]\nmin = 5\nmax = 4\n",
            "app.toml:2:7",
            &["r32::auto", "greater"],
        ),
        (
            "[groups.\"r32::autp\"]\nsize = 3\n",
            "app.toml:1:9",
            &["did you mean `r32::auto`", "`r32::bounded`", "`r32::fixed`"],
        ),
        (
            "[groups.\"r32::fixed\"]\nsiz = 3\n",
            "app.toml:2:1",
            &["did you mean `size`"],
        ),
        (
            "[groups.\"r32::fixed\"]\nsize = 0\n",
            "app.toml:2:8",
            &["r32::fixed", ">= 1"],
        ),
        (
            "[groups.\"r32::fixed\"]\nsize = -1\n",
            "app.toml:2:8",
            &["whole number"],
        ),
        (
            "[groups.\"r32::fixed\"]\nsize = 3.5\n",
            "app.toml:2:8",
            &["integer"],
        ),
        (
            "[groups.\"r32::fixed\"]\nsize = 3\nsize = 4\n",
            "app.toml:3:1",
            &["twice"],
        ),
        (
            "[groups.\"r32::fixed\"]\nadmission_timeout = \"1.5s\"\n",
            "app.toml:2:21",
            &["1500ms"],
        ),
        (
            "[groups.\"r32::fixed\"]\nsize = 3\n[bogus]\nx = 1\n",
            "app.toml:3:2",
            &["`defaults`", "`groups`"],
        ),
    ];
    // Line endings, inline tables, dotted keys and characters of several
    // bytes do not move the place (columns count characters).
    let more: &[(&str, &str, &[&str])] = &[
        (
            "[groups.\"r32::fixed\"]\r\nsize = 3\r\nkind = \"x\"\r\n",
            "app.toml:3:8",
            &["`fixed`"],
        ),
        (
            "[groups]\n\"r32::fixed\" = { size = 3, kind = \"x\" }\n",
            "app.toml:2:35",
            &["`autoscale`"],
        ),
        (
            "groups.\"r32::fixed\".size = 0\n",
            "app.toml:1:28",
            &["r32::fixed"],
        ),
        (
            "[groups]\n\"r32::fixed\" = { fleet_url = \"redis://ĥöst\", size = \"x\" }\n",
            "app.toml:2:53",
            &["integer"],
        ),
        (
            "[groups.\"r32::fixed\"]\nsize = 3\n\n\n[groups.\"r32::auto\"]\nmin = 7\n",
            "app.toml:6:7",
            &["greater"],
        ),
    ];
    let cases: Vec<_> = cases.iter().chain(more).collect();
    let mut wrong = Vec::new();
    for (text, place, words) in cases {
        config::clear();
        match config::load_str("app.toml", text) {
            Ok(report) => wrong.push(format!("{text:?} loaded: {report}")),
            Err(error) => {
                let origin = error.origin().map(|o| o.to_string()).unwrap_or_default();
                let shown = error.to_string();
                if origin != *place || !shown.starts_with(&format!("{place}: ")) {
                    wrong.push(format!("{text:?}: at {origin:?}, not {place}: {shown}"));
                }
                for word in *words {
                    if !error.message().contains(word) {
                        wrong.push(format!("{text:?}: message lacks {word:?}: {shown}"));
                    }
                }
            }
        }
        assert_eq!(
            R32_FIXED.settings().size,
            Some(2),
            "a refused load changed nothing"
        );
    }
    config::clear();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The same for variables: "Errors name ... (or the variable) and the valid
/// choices"; "one for a misspelt group fails the load with a suggestion";
/// "`POOLED_DB_URL` is ignored" (README, "Configuration").
#[test]
fn variable_errors_name_the_variable_and_the_choices() {
    let _turn = config_turn();
    let cases: &[(&str, &str, &[&str])] = &[
        ("POOLED_R32__FIXED_SIZE", "abc", &["whole number"]),
        (
            "POOLED_R32__FIXD_SIZE",
            "3",
            &["did you mean `POOLED_R32__FIXED_SIZE`"],
        ),
        ("POOLED_CEILING", "0", &["1 to 1073741823"]),
        ("POOLED_R32__FIXED_MAX_WAITING", "None", &["`none`"]),
        ("POOLED_R32__FIXED_ADMISSION_TIMEOUT", "1.5s", &["1500ms"]),
        ("POOLED_R32__FIXED_MIN", "1", &["r32::fixed", "fixed"]),
        (
            "POOLED_R32__AUTO_ORDER",
            "random",
            &["`fifo`", "`lifo`", "`priority`"],
        ),
    ];
    let mut wrong = Vec::new();
    for (name, value, words) in cases {
        config::clear();
        match config::load_env_from(vars(&[(name, value)])) {
            Ok(report) => wrong.push(format!("{name}={value} loaded: {report}")),
            Err(error) => {
                let shown = error.to_string();
                if !shown.starts_with(&format!("environment variable {name}: ")) {
                    wrong.push(format!("{name}={value}: not named: {shown}"));
                }
                for word in *words {
                    if !error.message().contains(word) {
                        wrong.push(format!("{name}={value}: message lacks {word:?}: {shown}"));
                    }
                }
            }
        }
    }
    config::clear();
    let ignored = config::load_env_from(vars(&[("POOLED_DB_URL", "redis://x")]));
    assert!(ignored.is_ok(), "POOLED_DB_URL is ignored: {ignored:?}");
    config::clear();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Config module docs, "Precedence": "the file's `[defaults]` table (its
/// `size` applies to fixed groups only, its `min`/`max` to autoscaled ones
/// only ...) so one table serves every kind", and a `[defaults]` size beats
/// the declaration. The values a fixed group cannot take (min/max) are no
/// error when they come from `[defaults]`.
#[test]
fn a_defaults_table_gives_each_kind_its_own_counts() {
    let _turn = config_turn();
    let report = config::load_str("app.toml", "[defaults]\nsize = 5\nmin = 2\nmax = 4\n")
        .expect("one table serves every kind");
    let fixed = R32_FIXED.settings();
    assert_eq!(
        (fixed.kind, fixed.size, fixed.min, fixed.max),
        (Kind::Fixed, Some(5), None, None)
    );
    let auto = R32_AUTO.settings();
    assert_eq!(auto.kind, Kind::Autoscale);
    assert_eq!((auto.min, auto.max), (Some(2), Some(4)), "{report}");
    if let Some(start) = auto.size {
        assert!(
            (2..=4).contains(&start),
            "the start is within the bounds: {start}"
        );
    }
    config::clear();
}

/// README, "Precedence": "a group declared `size = 4` that the file makes
/// autoscaled (with bounds, say) and the environment fixed again has 4
/// slots"; config docs: "(or the `[defaults]` size, which beats the
/// declaration)".
#[test]
fn a_kind_changed_twice_brings_back_the_fixed_count() {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_R32__FIXED_KIND", "fixed")])).unwrap();
    config::load_str(
        "app.toml",
        "[groups.\"r32::fixed\"]\nkind = \"autoscale\"\nmin = 1\nmax = 9\nsize = 7\n",
    )
    .unwrap();
    let s = R32_FIXED.settings();
    assert_eq!(
        (s.kind, s.size, s.min, s.max),
        (Kind::Fixed, Some(2), None, None)
    );
    config::load_str(
        "app.toml",
        "[defaults]\nsize = 6\n[groups.\"r32::fixed\"]\nkind = \"autoscale\"\nmin = 1\nmax = 9\n",
    )
    .unwrap();
    let s = R32_FIXED.settings();
    assert_eq!(
        (s.kind, s.size),
        (Kind::Fixed, Some(6)),
        "the [defaults] size beats the declaration"
    );
    config::clear();
}

/// Config docs, "Bounds": the word `none` removes an optional bound the
/// declaration or a weaker layer gave; README: the environment beats the file.
#[test]
fn none_in_the_environment_removes_the_files_and_the_declarations_bounds() {
    let _turn = config_turn();
    config::load_str(
        "app.toml",
        "[groups.\"r32::bounded\"]\nmax_waiting = 3\nadmission_timeout = \"5s\"\n",
    )
    .unwrap();
    let s = R32_BOUNDED.settings();
    assert_eq!(
        (s.max_waiting, s.admission_timeout),
        (Some(3), Some(Duration::from_secs(5)))
    );
    config::load_env_from(vars(&[
        ("POOLED_R32__BOUNDED_MAX_WAITING", "none"),
        ("POOLED_R32__BOUNDED_ADMISSION_TIMEOUT", "none"),
    ]))
    .unwrap();
    let s = R32_BOUNDED.settings();
    assert_eq!(
        (s.max_waiting, s.admission_timeout),
        (None, None),
        "the environment wins"
    );
    config::load_env_from(Vec::<(String, String)>::new()).unwrap();
    config::load_str(
        "app.toml",
        "[groups.\"r32::bounded\"]\nmax_waiting = \"none\"\n",
    )
    .unwrap();
    let s = R32_BOUNDED.settings();
    assert_eq!(
        s.max_waiting, None,
        "the file removes the declaration's bound"
    );
    assert_eq!(
        s.admission_timeout,
        Some(Duration::from_secs(1)),
        "and keeps the rest"
    );
    config::clear();
}

/// README, "Configuration": "Every value, wherever it is written (a
/// `[defaults]` table's too, whether or not it reaches a group), is checked
/// against the builder's own bounds (`PoolBuilder::build`)". The builder
/// refuses `max(0)` (`BuildError::ZeroMax`), and so does a load whose
/// `[defaults]` max reaches an autoscaled group; with every group fixed (the
/// environment makes the one autoscaled group fixed), the same table loads.
#[test]
fn a_defaults_max_of_zero_is_refused_even_when_no_group_is_autoscaled() {
    let _turn = config_turn();
    assert!(Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(0)
        .build()
        .is_err());
    let reached = config::load_str("app.toml", "[defaults]\nmax = 0\n");
    assert!(reached.is_err(), "refused when it reaches a group");
    config::load_env_from(vars(&[("POOLED_R32__AUTO_KIND", "fixed")])).unwrap();
    let unreached = config::load_str("app.toml", "[defaults]\nmax = 0\n");
    config::clear();
    let error = unreached.expect_err("a max of 0 is refused wherever it is written");
    assert_eq!(
        error.origin().map(|o| o.to_string()).as_deref(),
        Some("app.toml:2:7")
    );
}

/// As above, for `min > max` (`BuildError::MinAboveMax`), refused when it
/// reaches a group.
#[test]
fn a_defaults_min_above_its_max_is_refused_even_when_no_group_is_autoscaled() {
    let _turn = config_turn();
    assert!(Pool::builder()
        .kind(Kind::Autoscale)
        .min(5)
        .max(4)
        .build()
        .is_err());
    let reached = config::load_str("app.toml", "[defaults]\nmin = 5\nmax = 4\n");
    assert!(reached.is_err(), "refused when it reaches a group");
    config::load_env_from(vars(&[("POOLED_R32__AUTO_KIND", "fixed")])).unwrap();
    let unreached = config::load_str("app.toml", "[defaults]\nmin = 5\nmax = 4\n");
    config::clear();
    assert!(
        unreached.is_err(),
        "min > max is refused wherever it is written"
    );
}

static R32_ORDERED: Group = Group::new(GroupSpec::new("r32::ordered").size(1));
register_group!(R32_ORDERED);

/// README, "Configuration": "Reload applies changed limits to running pools
/// at once ... and returns a report of what changed and when it takes effect
/// (kind, order, `policy` ... at the group's next start)"; config docs: "A
/// running pool keeps its kind until it restarts". A reload making a running
/// FIFO group LIFO and autoscaled reports both at restart, and the calls
/// queued behind its one held slot still run first come, first served, with
/// one slot.
#[test]
fn a_reload_of_order_and_kind_leaves_a_running_pools_queue_as_it_was() {
    let _turn = config_turn();
    common::within(Duration::from_secs(60), || {
        let held = R32_ORDERED
            .pool()
            .try_acquire_owned(0)
            .expect("a free slot");
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let meter = common::Meter::default();
        let mut threads = Vec::new();
        for i in 0..5 {
            let (order, meter) = (order.clone(), meter.clone());
            threads.push(std::thread::spawn(move || {
                R32_ORDERED.run_wait(0, || {
                    let _in = meter.enter();
                    order.lock().unwrap().push(i);
                    std::thread::sleep(Duration::from_millis(1));
                })
            }));
            let start = std::time::Instant::now();
            while R32_ORDERED.stats().waiting < i + 1 {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "call {i} never queued"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let report = config::load_str(
            "app.toml",
            "[groups.\"r32::ordered\"]\norder = \"lifo\"\nkind = \"autoscale\"\nmin = 2\nmax = 4\n",
        )
        .expect("a valid file");
        for setting in ["order", "kind"] {
            let change = report
                .changes
                .iter()
                .find(|c| c.group == "r32::ordered" && c.setting == setting)
                .unwrap_or_else(|| panic!("{setting} is reported: {report}"));
            assert_eq!(change.effect, config::Effect::AtRestart, "{report}");
        }
        assert_eq!(
            R32_ORDERED.size(),
            1,
            "the running fixed pool keeps its slot count"
        );
        drop(held);
        for thread in threads {
            thread.join().unwrap();
        }
        config::clear();
        assert_eq!(
            *order.lock().unwrap(),
            vec![0, 1, 2, 3, 4],
            "the running pool stays FIFO"
        );
        assert_eq!(meter.max(), 1, "the running pool keeps one slot");
    });
}
/// README, "Configuration": "Every value, wherever it is written (a
/// `[defaults]` table's too, whether or not it reaches a group), is checked
/// against the builder's own bounds". A group table that makes its group
/// autoscaled with `max = 0` is refused where the group stays autoscaled;
/// with the environment making it fixed again (which sets the table's
/// autoscaled counts aside), the same zero is accepted.
#[test]
fn a_max_of_zero_set_aside_by_the_environment_is_still_refused() {
    let _turn = config_turn();
    let text = "[groups.\"r32::fixed\"]\nkind = \"autoscale\"\nmax = 0\n";
    let reached = config::load_str("app.toml", text);
    assert!(reached.is_err(), "refused when it reaches the group");
    config::load_env_from(vars(&[("POOLED_R32__FIXED_KIND", "fixed")])).unwrap();
    let set_aside = config::load_str("app.toml", text);
    config::clear();
    let error = set_aside.expect_err("a max of 0 is refused wherever it is written");
    assert_eq!(
        error.origin().map(|o| o.to_string()).as_deref(),
        Some("app.toml:3:7")
    );
}
