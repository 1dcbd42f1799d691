//! Acceptance round 37 (facade): configuration of `#[pooled]` functions and
//! `#[pooled::group]` groups (README "Configuration"): the kind round trip
//! counted from outside, the registry listing never-called groups with
//! their configured settings, a "did you mean" naming a function's group,
//! values a stronger layer replaces still checked, the ceiling over
//! attribute groups, and a first read of the environment that fails.
#![cfg(all(feature = "config", not(miri)))]

mod common;

use common::{config_turn, vars, within, Meter};
use pooled::config::{self, Origin};
use pooled::Rejected;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------
// The kind round trip of the README, counted from outside
// ---------------------------------------------------------------------

#[pooled::group(size = 4, name = "r37f::round_trip")]
struct RoundTrip;

static ROUND_TRIP_METER: Meter = Meter::new();
static ROUND_TRIP_HOLD: AtomicBool = AtomicBool::new(true);

#[pooled::pooled(group = RoundTrip)]
fn round_trip_call() -> Result<u32, Rejected> {
    let _inside = ROUND_TRIP_METER.enter();
    while ROUND_TRIP_HOLD.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(1)
}

/// README: "a group declared `size = 4` that the file makes autoscaled
/// (with bounds, say) and the environment fixed again has 4 slots": 10
/// callers of its function see exactly 4 bodies at once, never more.
#[test]
fn a_declared_size_made_autoscaled_by_the_file_and_fixed_by_the_environment_runs_4() {
    let _turn = config_turn();
    config::load_str(
        "r37.toml",
        "[groups.\"r37f::round_trip\"]\nkind = \"autoscale\"\nmin = 1\nmax = 9\nsize = 7\n",
    )
    .unwrap();
    config::load_env_from(vars(&[("POOLED_R37F__ROUND_TRIP_KIND", "fixed")])).unwrap();
    let s = RoundTrip::POOL.settings();
    assert_eq!(
        (s.kind, s.starting_size(), s.min, s.max),
        (pooled::Kind::Fixed, 4, None, None)
    );
    within(LIMIT, || {
        let callers: Vec<_> = (0..10)
            .map(|_| std::thread::spawn(round_trip_call))
            .collect();
        wait_until("4 running, 6 waiting", || {
            let st = RoundTrip::POOL.stats();
            st.running == 4 && st.waiting == 6
        });
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(ROUND_TRIP_METER.now(), 4);
        ROUND_TRIP_HOLD.store(false, SeqCst);
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Ok(1));
        }
    });
    assert_eq!(ROUND_TRIP_METER.peak(), 4);
    assert_eq!(ROUND_TRIP_METER.done(), 10);
    assert_eq!(RoundTrip::POOL.size(), 4);
    config::clear();
}

// ---------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------

#[pooled::pooled(size = 2)]
async fn never_called_listed() -> u32 {
    1
}

/// README: "Every group in the binary is known, even one never called:
/// `#[pooled]` registers groups at link time (`linkme`), and
/// `pooled::groups()` lists them with settings and stats" — the settings
/// in force (file and environment), without starting the group; and a
/// misspelt table names it in its "did you mean".
#[test]
fn groups_lists_a_never_called_function_with_its_configured_settings_unstarted() {
    let _turn = config_turn();
    let name = "acceptance_round37::never_called_listed";
    let err = config::load_str(
        "r37.toml",
        "[groups.\"acceptance_round37::never_caled_listed\"]\nsize = 5\n",
    )
    .unwrap_err();
    assert_eq!(
        err.origin(),
        Some(&Origin::File {
            path: "r37.toml".into(),
            line: 1,
            column: 9
        })
    );
    assert!(
        err.message().contains(&format!("did you mean `{name}`?")),
        "{err}"
    );
    assert!(err.message().contains("known groups: "), "{err}");
    config::load_str(
        "r37.toml",
        &format!("[groups.\"{name}\"]\nsize = 5\nmax_waiting = 9\n"),
    )
    .unwrap();
    config::load_env_from(vars(&[(
        "POOLED_ACCEPTANCE_ROUND37__NEVER_CALLED_LISTED_SIZE",
        "6",
    )]))
    .unwrap();
    let listed: Vec<_> = pooled::groups()
        .into_iter()
        .filter(|g| g.name == name)
        .collect();
    assert_eq!(listed.len(), 1, "listed once");
    let info = &listed[0];
    assert_eq!(info.settings.starting_size(), 6, "environment over file");
    assert_eq!(info.settings.max_waiting, Some(9), "the file's bound");
    assert!(info.stats.is_none(), "listing starts nothing");
    assert!(!NEVER_CALLED_LISTED_POOL.is_started());
    config::clear();
    let _ = never_called_listed;
}

// ---------------------------------------------------------------------
// Values a stronger layer replaces
// ---------------------------------------------------------------------

#[pooled::pooled(size = 2)]
fn masked_fn() -> u32 {
    1
}

/// README: "Every value, wherever it is written (...), is checked against
/// the builder's own bounds": a function's table `size = 0` is refused even
/// though its variable gives the size in force.
#[test]
fn a_functions_zero_size_replaced_by_its_variable_is_still_refused() {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_ACCEPTANCE_ROUND37__MASKED_FN_SIZE", "3")])).unwrap();
    let out = config::load_str(
        "r37.toml",
        "[groups.\"acceptance_round37::masked_fn\"]\nsize = 0\n",
    );
    let err = out.expect_err("size = 0 is refused wherever it is written");
    assert_eq!(
        err.origin(),
        Some(&Origin::File {
            path: "r37.toml".into(),
            line: 2,
            column: 8
        }),
        "{err}"
    );
    assert_eq!(MASKED_FN_POOL.settings().starting_size(), 3);
    config::clear();
    let _ = masked_fn;
}

// ---------------------------------------------------------------------
// The ceiling over attribute groups
// ---------------------------------------------------------------------

static CEILING_METER: Meter = Meter::new();
static CEILING_HOLD: AtomicBool = AtomicBool::new(true);

fn ceiling_body() {
    let _inside = CEILING_METER.enter();
    while CEILING_HOLD.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[pooled::pooled(size = 3)]
fn ceiling_a() -> Result<(), Rejected> {
    ceiling_body();
    Ok(())
}

#[pooled::pooled(size = 3)]
fn ceiling_b() -> Result<(), Rejected> {
    ceiling_body();
    Ok(())
}

#[pooled::pooled(size = 3)]
fn ceiling_d() -> Result<(), Rejected> {
    ceiling_body();
    Ok(())
}

#[pooled::pooled(size = 3)]
fn ceiling_c() -> Result<(), Rejected> {
    ceiling_body();
    Ok(())
}

/// README: "`ceiling = 64  # at most 64 calls running across all groups`",
/// and "a group's `max_waiting = 0` and `admission_timeout` bound its
/// calls' wait for the ceiling as they bound their wait for the group's
/// slot": with `ceiling = 4` over three groups of 3, exactly 4 bodies run
/// at once; a group given `max_waiting = 0` by the file is turned away
/// full at once by the full ceiling, one given a timeout by a variable
/// times out; lifting the ceiling by a reload lets the waiters run.
#[test]
fn a_files_ceiling_holds_attribute_groups_to_it_and_their_loaded_bounds_bound_its_wait() {
    let _turn = config_turn();
    config::load_str(
        "r37.toml",
        "ceiling = 4\n[groups.\"acceptance_round37::ceiling_c\"]\nmax_waiting = 0\n",
    )
    .unwrap();
    config::load_env_from(vars(&[(
        "POOLED_ACCEPTANCE_ROUND37__CEILING_B_ADMISSION_TIMEOUT",
        "40ms",
    )]))
    .unwrap();
    assert_eq!(pooled::ceiling::limit(), Some(4));
    within(LIMIT, || {
        let callers: Vec<_> = (0..6)
            .map(|i| std::thread::spawn(if i % 2 == 0 { ceiling_a } else { ceiling_d }))
            .collect();
        wait_until("4 running at the ceiling", || CEILING_METER.now() == 4);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(CEILING_METER.now(), 4, "never more than the ceiling");
        let t0 = Instant::now();
        assert_eq!(ceiling_c(), Err(Rejected::Full), "max_waiting = 0");
        assert!(t0.elapsed() < Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(ceiling_b(), Err(Rejected::TimedOut), "the variable's 40 ms");
        assert!(t0.elapsed() >= Duration::from_millis(40));
        let waiting = pooled::ceiling::stats().unwrap().waiting;
        assert_eq!(waiting, 2, "two wait for the ceiling");
        // Lifting the ceiling lets the two waiting calls run at once (the
        // running ones go on): 6, each group within its own 3.
        let report = config::load_str("r37.toml", "").unwrap();
        assert!(
            report
                .to_string()
                .contains("(ceiling): ceiling 4 -> none (applied)"),
            "{report}"
        );
        wait_until("all 6 running once lifted", || CEILING_METER.now() == 6);
        assert_eq!(CEILING_A_POOL.stats().running, 3);
        assert_eq!(CEILING_D_POOL.stats().running, 3);
        CEILING_HOLD.store(false, SeqCst);
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Ok(()));
        }
    });
    assert_eq!(CEILING_METER.peak(), 6);
    assert_eq!(CEILING_METER.done(), 6);
    config::clear();
}

// ---------------------------------------------------------------------
// The first read of the environment
// ---------------------------------------------------------------------

#[pooled::pooled(size = 2, name = "r37f::x-y")]
fn dashed() -> u32 {
    1
}

#[pooled::pooled(size = 2, name = "r37f::x_y")]
fn underscored() -> u32 {
    2
}

/// README: "groups whose names map to one variable (`x-y`, `x_y`) make it
/// an error naming both", and the docs of `config`: "At a group's first
/// use, where no caller can receive an error, a failing environment is
/// applied not at all and the error is logged": at the first use, the
/// variable of the two groups makes the whole environment, its ceiling
/// too, not applied, and the error naming both is on stderr once.
#[test]
fn a_shared_variable_at_first_use_applies_no_variable_and_names_both_groups() {
    const NAME: &str = "a_shared_variable_at_first_use_applies_no_variable_and_names_both_groups";
    let stderr = common::in_child_process(
        NAME,
        &[
            ("POOLED_R37F__X_Y_SIZE", "5"),
            ("POOLED_CEILING", "1"),
            ("POOLED_ACCEPTANCE_ROUND37__MASKED_FN_SIZE", "4"),
        ],
        || {
            assert_eq!((dashed(), underscored(), masked_fn()), (1, 2, 1));
            assert_eq!(DASHED_POOL.size(), 2, "not applied");
            assert_eq!(UNDERSCORED_POOL.size(), 2, "not applied");
            assert_eq!(MASKED_FN_POOL.size(), 2, "all or nothing");
            assert_eq!(pooled::ceiling::limit(), None, "all or nothing");
            // `load_env` returns the same error.
            let err = config::load_env().unwrap_err();
            assert_eq!(
                err.origin(),
                Some(&Origin::Env {
                    var: "POOLED_R37F__X_Y_SIZE".into()
                })
            );
        },
    );
    let Some(stderr) = stderr else { return };
    let lines: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("POOLED_R37F__X_Y_SIZE"))
        .collect();
    assert_eq!(lines.len(), 1, "reported once:\n{stderr}");
    assert!(
        lines[0].contains("`r37f::x-y`") && lines[0].contains("`r37f::x_y`"),
        "{stderr}"
    );
}
