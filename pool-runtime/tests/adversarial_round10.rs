//! Hostile acceptance tests, round 10: configuration keys and positions,
//! reloads moving a running group's bounds while calls wait and run
//! (counted from outside), failed reloads in between, and the environment's
//! odd spellings.
#![cfg(feature = "config")]

mod common;
use common::{config_turn, vars, within, Meter, Task};
use pool_runtime::config::{self, Origin};
use pool_runtime::{
    register_group, AdaptiveSettings, BuildError, Group, GroupSpec, Kind, Order, Pool, ScalePolicy,
    MAX_SLOTS,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(15);

static STARTS: Group = Group::new(
    GroupSpec::new("r10::starts")
        .kind(Kind::Autoscale)
        .size(3)
        .min(1)
        .max(4),
);
register_group!(STARTS);

static UNI: Group = Group::new(GroupSpec::new("r10::ünï").size(2));
register_group!(UNI);

/// A long autoscale interval: only reloads move the limit.
static LIVE: Group = Group::new(
    GroupSpec::new("r10::live")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .autoscale_interval(Duration::from_secs(3600)),
);
register_group!(LIVE);

fn at(line: usize, column: usize) -> Option<Origin> {
    Some(Origin::File {
        path: "r10.toml".into(),
        line,
        column,
    })
}

fn load_err(text: &str) -> config::ConfigError {
    config::load_str("r10.toml", text).expect_err("the configuration is invalid")
}

/// The environment's keys are upper case, the file's lower case: a key
/// written the environment's way in a file is the likeliest slip, and is
/// refused with the key it means.
#[test]
fn an_upper_case_key_in_a_file_is_refused_with_its_lower_case_name() {
    let _serial = config_turn();
    for key in [
        "MAX",
        "MAX_WAITING",
        "Admission_Timeout",
        "ADAPTIVE_TOLERANCE",
    ] {
        let err = load_err(&format!("[groups.\"r10::starts\"]\n{key} = 3\n"));
        assert_eq!(err.origin(), at(2, 1).as_ref(), "{err}");
        let lower = key.to_ascii_lowercase();
        assert!(
            err.message()
                .contains(&format!("unknown field `{key}`; did you mean `{lower}`?")),
            "{err}"
        );
    }
    let err = load_err("[defaults]\nSIZE = 3\n");
    assert!(err.message().contains("did you mean `size`?"), "{err}");
    assert_eq!(STARTS.settings().max, Some(4), "nothing applied");
}

/// Columns count characters (not bytes) after unicode on the same line; a
/// multi-line value is placed where it starts; a duplicate key or table
/// is placed at the second one; a value past `usize` or `f64` is an error
/// at it, not a panic.
#[test]
fn error_positions_count_characters_and_place_multi_line_and_duplicate_values() {
    let _serial = config_turn();
    let err = load_err("[groups]\n\"r10::ünï\" = { size = \"x\" }\n");
    assert_eq!(err.origin(), at(2, 23).as_ref(), "{err}");
    let err = load_err("# ünï ünï\n[groups.\"r10::ünï\"]  \nsize =    -5\n");
    assert_eq!(err.origin(), at(3, 11).as_ref(), "{err}");
    let err = load_err(
        "[groups.\"r10::starts\"]\nmin = 1 # ünï\nadmission_timeout = \"\"\"\n\n 5 parsecs\"\"\"\n",
    );
    assert_eq!(err.origin(), at(3, 21).as_ref(), "{err}");
    assert!(
        err.message()
            .starts_with("`admission_timeout`: invalid duration"),
        "{err}"
    );
    let err = load_err("[groups.\"r10::starts\"]\nmax = 2\nmax = 3\n");
    assert_eq!(err.origin(), at(3, 1).as_ref(), "{err}");
    assert!(err.to_string().contains("`max` is given twice"), "{err}");
    let err = load_err("[groups.\"r10::ünï\"]\nsize = 2\n[groups.\"r10::ünï\"]\nsize = 3\n");
    assert_eq!(err.origin(), at(3, 9).as_ref(), "{err}");
    assert!(err.to_string().contains("is given twice"), "{err}");
    for (text, column) in [
        ("max = 18446744073709551616", 7),
        ("max = 1e400", 7),
        ("max = 1073741824", 7),
        ("admission_timeout = \"99999999999999999999h\"", 21),
        ("autoscale_window = 99999999999", 20),
    ] {
        let err = load_err(&format!("[groups.\"r10::starts\"]\n{text}\n"));
        assert_eq!(err.origin(), at(2, column).as_ref(), "{text}: {err}");
    }
    // Arbitrary corruption of a valid file: an error at a real place (or
    // none), never a panic.
    let base = "ceiling = 8 # é\n[defaults]\nmax_waiting = 10\nadmission_timeout = \"2s\"\n\
                [groups.\"r10::starts\"]\nkind = \"autoscale\"\npolicy = \"adaptive\"\nmin = 1\n\
                max = 4\nadaptive_tolerance = 1.5\nadaptive_window_time = \"\"\"\n1s\"\"\"\n";
    let pieces = [
        "é",
        "\u{1F600}",
        "\"",
        "'''",
        "\"\"\"",
        "\n",
        "\r\n",
        "=",
        "[",
        "]",
        "{",
        "}",
        ".",
        "-",
        "1e400",
        "99999999999999999999",
        "nan",
        "0x10",
        "\\u00e9",
        "\\",
        "#",
        "\t",
        "\u{0}",
        "[[groups]]",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    for _ in 0..2000 {
        let mut text = base.to_owned();
        for _ in 0..next() % 4 + 1 {
            let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            let at = starts[next() % starts.len()];
            if next() % 3 == 0 {
                let c = text[at..].chars().next().unwrap();
                text.replace_range(at..at + c.len_utf8(), "");
            } else {
                text.insert_str(at, pieces[next() % pieces.len()]);
            }
        }
        let copy = text.clone();
        let loaded = std::panic::catch_unwind(move || config::load_str("r10.toml", &copy))
            .unwrap_or_else(|_| panic!("a load panicked on {text:?}"));
        if let Err(err) = loaded {
            if let Some(Origin::File { line, column, .. }) = err.origin() {
                let lines: Vec<&str> = text.split('\n').collect();
                assert!(*line >= 1 && *line <= lines.len(), "{err}: {text:?}");
                let width = lines[*line - 1].chars().count() + 1;
                assert!(*column >= 1 && *column <= width, "{err}: {text:?}");
            }
        }
        config::clear();
    }
}

/// Tokens handed out one by one to blocked bodies.
#[derive(Clone, Default)]
struct Tokens(Arc<(Mutex<usize>, Condvar)>);

impl Tokens {
    fn give(&self, n: usize) {
        *self.0 .0.lock().unwrap() += n;
        self.0 .1.notify_all();
    }
    fn take(&self) {
        let mut left = self.0 .0.lock().unwrap();
        while *left == 0 {
            left = self.0 .1.wait(left).unwrap();
        }
        *left -= 1;
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < BOUND, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A reload raising a running autoscaled group's `min` admits waiting calls
/// at once; one lowering `max` below the calls running admits nobody until
/// the running calls are below it; a failing reload in between changes
/// nothing (not the bounds, not the limit); counted from outside.
#[test]
fn reloads_moving_a_running_groups_bounds_admit_exactly_what_they_allow() {
    let _serial = config_turn();
    within(BOUND * 2, || {
        let meter = Meter::default();
        let tokens = Tokens::default();
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let (meter, tokens) = (meter.clone(), tokens.clone());
                std::thread::spawn(move || {
                    LIVE.run(|| {
                        let _inside = meter.enter();
                        tokens.take();
                    })
                })
            })
            .collect();
        wait_until("one running, five waiting", || {
            let s = LIVE.stats();
            s.running == 1 && s.waiting == 5
        });
        assert_eq!(meter.now(), 1);
        // Raise `min` to 3: two more admitted at once.
        config::load_str("r10.toml", "[groups.\"r10::live\"]\nmin = 3\n").unwrap();
        wait_until("three running", || meter.now() == 3);
        assert_eq!(LIVE.size(), 3);
        // A failing reload (a good bound, then a bad value) changes nothing.
        let err = config::load_str(
            "r10.toml",
            "[groups.\"r10::live\"]\nmin = 6\nmax = 6\nadmission_timeout = \"soon\"\n",
        )
        .unwrap_err();
        assert_eq!(err.origin(), at(4, 21).as_ref(), "{err}");
        assert_eq!(LIVE.size(), 3, "a failed reload moves no limit");
        assert_eq!(LIVE.settings().min, Some(3));
        assert_eq!(LIVE.stats().waiting, 3);
        // Lower `max` to 1 with three running: none admitted until below.
        config::load_str("r10.toml", "[groups.\"r10::live\"]\nmax = 1\n").unwrap();
        assert_eq!(LIVE.size(), 1);
        tokens.give(1);
        wait_until("one ended", || meter.done() == 1);
        tokens.give(1);
        wait_until("two ended", || meter.done() == 2);
        // Two ended with three running: still one running above the limit
        // of 1 and nobody admitted.
        assert_eq!(LIVE.stats().waiting, 3);
        assert_eq!(meter.now(), 1);
        tokens.give(1);
        wait_until("the next admitted", || {
            meter.done() == 3 && meter.now() == 1
        });
        assert_eq!(LIVE.stats().waiting, 2);
        // Back to the declared bounds (clear): all the rest admitted.
        config::clear();
        assert_eq!(LIVE.settings().max, Some(8));
        tokens.give(3);
        for call in calls {
            call.join().unwrap().unwrap();
        }
        assert!(meter.max() <= 3, "peak {}", meter.max());
        let stats = LIVE.stats();
        common::assert_accounted(&stats);
        assert_eq!(stats.completed, 6);
    });
}

/// The environment's odd spellings: a lower-case prefix or setting is not
/// ours (ignored), a group written in lower case after the prefix is a
/// misspelt group with the upper-case name suggested; the same setting given by the file
/// and the environment takes the environment's, and a bad variable keeps
/// the file's.
#[test]
fn odd_variable_spellings_and_file_env_conflicts() {
    let _serial = config_turn();
    config::load_env_from(vars(&[("pooled_r10__starts_max", "2")])).unwrap();
    assert_eq!(STARTS.settings().max, Some(4), "not a POOLED_ variable");
    let err = config::load_env_from(vars(&[("POOLED_r10__starts_MAX", "2")])).unwrap_err();
    assert!(
        err.message()
            .contains("did you mean `POOLED_R10__STARTS_MAX`?"),
        "{err}"
    );
    // A setting written in lower case names no setting: ignored (with a
    // warning), as the docs say of `POOLED_DB_URL`.
    config::load_env_from(vars(&[("POOLED_R10__STARTS_max", "2")])).unwrap();
    assert_eq!(STARTS.settings().max, Some(4));
    config::load_str("r10.toml", "[groups.\"r10::starts\"]\nmax = 6\n").unwrap();
    config::load_env_from(vars(&[("POOLED_R10__STARTS_MAX", " 5 ")])).unwrap();
    assert_eq!(
        STARTS.settings().max,
        Some(5),
        "the environment beats the file"
    );
    let err = config::load_env_from(vars(&[("POOLED_R10__STARTS_MIN", "7")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable POOLED_R10__STARTS_MIN: group `r10::starts`: `min` (7) is greater than `max` (6)"
    );
    assert_eq!(
        STARTS.settings().max,
        Some(5),
        "a failed load keeps the old env"
    );
    let err = config::load_env_from(vars(&[("POOLED_R10___N__MAX", "7")]));
    // `r10::ünï` mangles to `R10___N_`: its variables are those.
    assert!(err.is_err(), "{err:?}");
    config::load_env_from(vars(&[("POOLED_R10___N__SIZE", "7")])).unwrap();
    assert_eq!(UNI.settings().size, Some(7));
}

/// The bounds of each epoch of [`bounds_changes`]: `(min, max)`, or a
/// manual `scale`/`resize` within the bounds in force.
const EPOCHS: &[(usize, usize)] = &[
    (0, 3),
    (2, 6),
    (1, 1),
    (0, 2),
    (3, 3),
    (1, 6),
    (0, 1),
    (4, 5),
];

/// Many threads call `pool` while a controller moves its bounds through
/// [`EPOCHS`] (with `scale(-100)`, `resize` and refused `set_bounds` in
/// between). Counted from outside: a body that entered saw no more bodies
/// running than the largest `max` in force between its submission and its
/// entry (a lowered limit admits nobody until the running calls are below
/// it, and a body counts only while its slot is held). Nothing hangs, and
/// every call is accounted for.
fn bounds_changes(pool: Pool) {
    let pool = Arc::new(pool);
    let meter = Meter::default();
    // `epoch` is the index into `EPOCHS` (times the rounds) whose bounds
    // were set before it was published.
    let epoch = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let over = Arc::new(Mutex::new(Vec::new()));
    let max_of = |e: usize| EPOCHS[e % EPOCHS.len()].1;
    pool.set_bounds(EPOCHS[0].0, EPOCHS[0].1).unwrap();
    let callers: Vec<_> = (0..6)
        .map(|_| {
            let (pool, meter, epoch, over) =
                (pool.clone(), meter.clone(), epoch.clone(), over.clone());
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut calls = 0;
                while !stop.load(Ordering::SeqCst) || calls < 50 {
                    calls += 1;
                    let submitted = epoch.load(Ordering::SeqCst);
                    pool.run(|| {
                        let inside = meter.enter();
                        let now = meter.now();
                        let entered = epoch.load(Ordering::SeqCst);
                        let allowed = (submitted..=entered + 1).map(max_of).max().unwrap();
                        if now > allowed {
                            over.lock().unwrap().push((now, submitted, entered));
                        }
                        std::thread::yield_now();
                        drop(inside);
                    })
                    .unwrap();
                }
                calls
            })
        })
        .collect();
    for round in 1..=EPOCHS.len() * 40 {
        let (min, max) = EPOCHS[round % EPOCHS.len()];
        // Refused changes leave the bounds as they are.
        let before = pool.bounds();
        assert!(matches!(
            pool.set_bounds(max + 1, max),
            Err(BuildError::MinAboveMax { .. })
        ));
        assert!(matches!(pool.set_bounds(0, 0), Err(BuildError::ZeroMax)));
        assert!(matches!(
            pool.set_bounds(0, MAX_SLOTS + 1),
            Err(BuildError::TooLarge { .. })
        ));
        assert_eq!(pool.bounds(), before);
        // Publish the next epoch only once its bounds are set; the manual
        // changes stay within them.
        pool.set_bounds(min, max).unwrap();
        epoch.store(round, Ordering::SeqCst);
        assert_eq!(pool.scale(-100), min);
        std::thread::yield_now();
        assert!(pool.resize(max) <= max);
        std::thread::sleep(Duration::from_micros(200));
    }
    // Let the rest finish under room enough for all.
    pool.set_bounds(1, 6).unwrap();
    epoch.store(EPOCHS.len() * 40 + 1, Ordering::SeqCst);
    pool.resize(6);
    stop.store(true, Ordering::SeqCst);
    let calls: u64 = callers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(
        *over.lock().unwrap(),
        vec![],
        "bodies over the limit in force"
    );
    let stats = pool.stats();
    common::assert_accounted(&stats);
    assert_eq!(
        (stats.completed, stats.running, stats.waiting),
        (calls, 0, 0)
    );
}

#[test]
fn an_adaptive_pool_from_zero_keeps_every_bound_it_is_moved_through() {
    within(BOUND * 2, || {
        let settings = AdaptiveSettings {
            window_samples: 1,
            window_time: Duration::from_nanos(1),
            ..AdaptiveSettings::DEFAULT
        };
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(0)
            .max(MAX_SLOTS)
            .scale_policy(ScalePolicy::Adaptive(settings))
            .build()
            .unwrap();
        assert_eq!(pool.size(), 1, "min 0 starts at 1");
        bounds_changes(pool);
    });
}

#[test]
fn a_queue_depth_pool_keeps_every_bound_it_is_moved_through() {
    within(BOUND * 2, || {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .order(Order::Lifo)
            .min(0)
            .max(MAX_SLOTS)
            .autoscale_interval(Duration::from_micros(50))
            .autoscale_window(1)
            .build()
            .unwrap();
        bounds_changes(pool);
    });
}

/// Every kind and order, shut down with a deadline while two calls run and
/// three wait, after being scaled to 0: the shutdown returns by its
/// deadline saying so, the waiting calls are turned away as closed, a
/// `drained()` made before it resolves only once the running calls end (and
/// is woken then), new calls are closed, a second shutdown finds the pool
/// drained, and every call is accounted for.
#[test]
fn shutdown_with_a_deadline_on_every_kind_and_order_scaled_to_zero() {
    let adaptive = ScalePolicy::Adaptive(AdaptiveSettings {
        window_samples: 1,
        ..AdaptiveSettings::DEFAULT
    });
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pools = [
            Pool::builder().order(order).size(2).build().unwrap(),
            Pool::builder()
                .order(order)
                .kind(Kind::Autoscale)
                .min(0)
                .max(2)
                .size(2)
                .autoscale_interval(Duration::from_secs(3600))
                .build()
                .unwrap(),
            Pool::builder()
                .order(order)
                .kind(Kind::Autoscale)
                .min(0)
                .max(2)
                .size(2)
                .scale_policy(adaptive)
                .build()
                .unwrap(),
        ];
        for pool in pools {
            let label = format!("{order:?} {:?} {:?}", pool.kind(), pool.bounds());
            within(BOUND, move || {
                let pool = Arc::new(pool);
                let tokens = Tokens::default();
                let meter = Meter::default();
                let calls: Vec<_> = (0..5i64)
                    .map(|i| {
                        let (mine, tokens, meter) = (pool.clone(), tokens.clone(), meter.clone());
                        let call = std::thread::spawn(move || {
                            mine.run_weighted(i, || {
                                let _inside = meter.enter();
                                tokens.take();
                            })
                        });
                        // In turn: the first two run, the rest wait.
                        wait_until("the call taken in", || {
                            let s = pool.stats();
                            s.running + s.waiting == i as usize + 1
                        });
                        call
                    })
                    .collect();
                assert_eq!((meter.now(), pool.stats().waiting), (2, 3), "{label}");
                assert_eq!(pool.scale(-100), 0, "{label}");
                let mut drained = Task::new(pool.drained());
                drained.assert_pending();
                let err =
                    futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(20))))
                        .expect_err("two calls still run");
                assert_eq!(
                    (err.running, err.nested, err.turned_away, err.waiting),
                    (2, 0, 3, 0),
                    "{label}"
                );
                assert_eq!(pool.run(|| ()), Err(pool_runtime::Rejected::Closed));
                drained.assert_pending();
                tokens.give(5);
                let outcomes: Vec<_> = calls.into_iter().map(|c| c.join().unwrap()).collect();
                let closed = outcomes
                    .iter()
                    .filter(|o| **o == Err(pool_runtime::Rejected::Closed))
                    .count();
                assert_eq!(closed, 3, "{label}: {outcomes:?}");
                assert!(drained.is_woken(), "{label}");
                drained.assert_ready();
                futures::executor::block_on(pool.shutdown(Some(Duration::ZERO)))
                    .expect("already drained");
                assert_eq!(pool.resize(1), 1, "a closed pool still takes a size");
                assert_eq!(pool.run(|| ()), Err(pool_runtime::Rejected::Closed));
                let stats = pool.stats();
                common::assert_accounted(&stats);
                assert_eq!(
                    (
                        stats.completed,
                        stats.rejected_for(pool_runtime::Rejected::Closed),
                        stats.running,
                        stats.waiting
                    ),
                    (2, 5, 0, 0),
                    "{label}"
                );
                assert_eq!(meter.max(), 2, "{label}");
            });
        }
    }
}

/// An autoscaled group's start (`size`) given only by its declaration is
/// brought into the bounds a load gives (lowering `max` below it is no
/// error), before and after its first use; a `size` a layer gives outside
/// the bounds is an error at it.
#[test]
fn bounds_a_load_gives_bring_a_declared_start_into_them() {
    let _serial = config_turn();
    let report = config::load_str("r10.toml", "[groups.\"r10::starts\"]\nmax = 2\n").unwrap();
    assert!(
        report
            .to_string()
            .contains("r10::starts: size 3 -> 2 (at first use)"),
        "{report}"
    );
    assert_eq!(STARTS.settings().starting_size(), 2);
    assert_eq!(STARTS.settings().bounds(), (1, 2));
    let err = load_err("[groups.\"r10::starts\"]\nmax = 2\nsize = 3\n");
    assert_eq!(err.origin(), at(3, 8).as_ref(), "{err}");
    assert_eq!(
        err.message(),
        "group `r10::starts`: `size` (3) is outside `min..=max` (1..=2)"
    );
    let err = load_env_from_err(&[("POOLED_R10__STARTS_SIZE", "4")]);
    assert_eq!(err.to_string(), "environment variable POOLED_R10__STARTS_SIZE: group `r10::starts`: `size` (4) is outside `min..=max` (1..=2)");
    assert_eq!(STARTS.size(), 2, "started at the clamped start");
    config::load_str("r10.toml", "[groups.\"r10::starts\"]\nmin = 3\n").unwrap();
    assert_eq!((STARTS.size(), STARTS.pool().bounds()), (3, (3, 4)));
    config::clear();
    assert_eq!(STARTS.pool().bounds(), (1, 4));
}

fn load_env_from_err(list: &[(&str, &str)]) -> config::ConfigError {
    config::load_env_from(vars(list)).expect_err("the variables are invalid")
}

#[cfg(all(feature = "test-util", feature = "rayon"))]
static ISOLATED_RAYON: Group = Group::new(
    GroupSpec::new("r10::isolated_rayon")
        .size(1)
        .executor(pool_runtime::ExecutorKind::Rayon),
);
#[cfg(all(feature = "test-util", feature = "rayon"))]
static ISOLATED_TOKIO: Group = Group::new(GroupSpec::new("r10::isolated_tokio").size(1));
#[cfg(all(feature = "test-util", feature = "rayon"))]
static ISOLATED_PLAIN: Group = Group::new(GroupSpec::new("r10::isolated_plain").size(1));

/// A call nested in the work of a call an isolated instance admitted belongs
/// to the test that isolated it, wherever that work runs: a blocking job on
/// tokio's blocking threads, on rayon's threads (from a `#[tokio::test]`),
/// or on a thread of its own (from a plain test). It nests under its
/// parent's slot in the instance; the shared pool (which another test may
/// have paused, closed or filled) never sees it.
#[cfg(all(feature = "test-util", feature = "rayon"))]
#[test]
fn calls_nested_in_an_isolated_instances_blocking_jobs_stay_in_the_instance() {
    // Group calls count against the ceiling another test here sets.
    let _serial = config_turn();
    let check = |group: &'static Group, mine: &pool_runtime::Isolation, inner| {
        assert_eq!(inner, Ok(Ok(7)), "{}", group.name());
        let stats = mine.pool().stats();
        assert_eq!(
            (stats.completed, stats.submitted()),
            (2, 2),
            "{}: {stats:?}",
            group.name()
        );
        assert!(
            !group.is_started(),
            "{}: the shared pool was used",
            group.name()
        );
    };
    within(BOUND, move || {
        for group in [&ISOLATED_TOKIO, &ISOLATED_RAYON] {
            common::runtime().block_on(async {
                let mine = group.isolate();
                let inner = group.submit_blocking(0, move || group.run(|| 7)).await;
                check(group, &mine, inner);
            });
        }
        let mine = ISOLATED_PLAIN.isolate();
        let inner = futures::executor::block_on(
            ISOLATED_PLAIN.submit_blocking(0, || ISOLATED_PLAIN.run(|| 7)),
        );
        check(&ISOLATED_PLAIN, &mine, inner);
    });
}

#[cfg(feature = "rayon")]
static CEILED_RAYON: Group = Group::new(
    GroupSpec::new("r10::ceiled_rayon")
        .size(1)
        .executor(pool_runtime::ExecutorKind::Rayon),
);
#[cfg(feature = "rayon")]
static CEILED_TOKIO: Group = Group::new(GroupSpec::new("r10::ceiled_tokio").size(1));
#[cfg(feature = "rayon")]
static CEILED_OTHER: Group = Group::new(GroupSpec::new("r10::ceiled_other").size(1));

/// Under a ceiling of 1, a call nested in a blocking job (on tokio's
/// blocking threads, rayon's, or a thread of its own), into the same group
/// or another, runs under its parent's ceiling slot instead of waiting for
/// a second one that never comes.
#[cfg(feature = "rayon")]
#[test]
fn calls_nested_in_blocking_jobs_on_any_executor_nest_under_the_ceiling() {
    let _serial = config_turn();
    config::load_str("c.toml", "ceiling = 1\n").unwrap();
    within(BOUND, || {
        for group in [&CEILED_TOKIO, &CEILED_RAYON] {
            let answers = common::runtime().block_on(async {
                let same = group.submit_blocking(0, move || group.run(|| 1)).await;
                let other = group.submit_blocking(0, || CEILED_OTHER.run(|| 2)).await;
                (same, other)
            });
            assert_eq!(answers, (Ok(Ok(1)), Ok(Ok(2))), "{}", group.name());
        }
        let plain =
            futures::executor::block_on(CEILED_TOKIO.submit_blocking(0, || CEILED_OTHER.run(|| 3)));
        assert_eq!(plain, Ok(Ok(3)));
    });
    let stats = pool_runtime::ceiling::stats().expect("a ceiling is set");
    common::assert_accounted(&stats);
    assert_eq!((stats.completed, stats.running, stats.waiting), (10, 0, 0));
    config::clear();
}

/// The micro sign (`µ`, U+00B5, what `Duration`'s `Debug` prints) is
/// accepted in a duration literal; the Greek letter mu (`μ`, U+03BC), which
/// looks the same and which Unicode normalisation turns the micro sign
/// into, is the same unit, not an "unknown unit `μs`" error that reads like
/// the accepted one.
#[test]
fn both_micro_signs_are_microseconds_in_a_duration() {
    let _serial = config_turn();
    for text in ["250µs", "250μs", "250us"] {
        config::load_str(
            "d.toml",
            &format!("[groups.\"r10::live\"]\nadmission_timeout = \"{text}\"\n"),
        )
        .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            LIVE.settings().admission_timeout,
            Some(Duration::from_micros(250)),
            "{text}"
        );
    }
    config::load_env_from(vars(&[("POOLED_R10__LIVE_ADMISSION_TIMEOUT", "1ms250μs")])).unwrap();
    assert_eq!(
        LIVE.settings().admission_timeout,
        Some(Duration::from_micros(1250))
    );
    config::clear();
}

/// TOML numbers take `_` between digits (`max_waiting = 10_000`); a
/// duration string written the same way (`"1_000ms"`) is refused saying
/// so, not with "`1` has no unit".
#[test]
fn a_digit_separator_in_a_duration_is_refused_saying_so() {
    let _serial = config_turn();
    config::load_str("d.toml", "[groups.\"r10::live\"]\nmax_waiting = 10_000\n").unwrap();
    let err = load_err("[groups.\"r10::live\"]\nadmission_timeout = \"1_000ms\"\n");
    assert_eq!(err.origin(), at(2, 21).as_ref(), "{err}");
    assert!(
        err.message().contains("invalid duration `1_000ms`: digit separators are not accepted (\"1000ms\", not \"1_000ms\")"),
        "{err}"
    );
    let err = load_env_from_err(&[("POOLED_R10__LIVE_AUTOSCALE_INTERVAL", "1_500ms")]);
    assert!(
        err.message().contains("digit separators are not accepted"),
        "{err}"
    );
}

#[cfg(feature = "test-util")]
static STOLEN: Group = Group::new(GroupSpec::new("r10::stolen").size(1));

/// A thread may run the work of one test's call inside the work of
/// another's (a rayon thread waiting in `join` steals whatever job is
/// queued): a call it makes into the group belongs to the innermost call's
/// test, whichever isolation is newer.
#[cfg(feature = "test-util")]
#[test]
fn a_call_nested_in_two_tests_work_goes_to_the_innermost_ones_instance() {
    within(BOUND, || {
        let isolate = || std::thread::spawn(|| STOLEN.isolate()).join().unwrap();
        let inner = isolate();
        let outer = isolate(); // the newer one
        let (outer_pool, inner_pool) = (outer.pool(), inner.pool());
        let answer = outer_pool.run(|| inner_pool.run(|| STOLEN.run(|| 7)));
        assert_eq!(answer, Ok(Ok(Ok(7))));
        assert_eq!(
            inner_pool.stats().completed,
            2,
            "nested under the innermost call"
        );
        assert_eq!(outer_pool.stats().completed, 1);
        drop((outer, inner));
    });
}
