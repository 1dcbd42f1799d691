//! Acceptance tests of the facade, round 19: README sentences no earlier
//! test checks — a future behind a type alias, the README's counts of its
//! compile-fail cases and loom models, and the fleet flush line. Each test
//! quotes its README sentence with its line number. Concurrency is counted
//! by the bodies themselves ([`Meter`]); waits are bounded only to turn a
//! hang into a failure.
#![cfg(feature = "tokio")]

mod common;
use common::{within, Meter};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// Every wait is over by then, or the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// A body that stays inside until `others` more bodies of its meter are
/// inside too, or 1 s has passed (so a body that runs alone ends).
async fn inside_until_joined(meter: &'static Meter, others: usize) -> u32 {
    let _inside = meter.enter();
    let start = Instant::now();
    while meter.now() < others + 1 && start.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    1
}

static ALIASED: Meter = Meter::new();
static SPELLED: Meter = Meter::new();

type Later = Pin<Box<dyn Future<Output = u32> + Send>>;

#[pooled::pooled(size = 1)]
fn aliased() -> Later {
    Box::pin(inside_until_joined(&ALIASED, 1))
}

#[pooled::pooled(size = 1)]
fn spelled() -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(inside_until_joined(&SPELLED, 1))
}

/// README lines 154–155: "The attribute sees spelling, not types: a future
/// behind a type alias is taken for an ordinary value and runs unthrottled,
/// so spell the type out or use `async fn`." (with lines 149–152: a sync
/// function returning a spelled-out `Pin<Box<dyn Future<..> + ..>>` "returns
/// one that holds the slot until the built future completes").
///
/// Two futures of each function of a pool of 1, awaited together, each body
/// waiting (bounded) for the other: the aliased ones run at once (2 inside),
/// the spelled-out ones one at a time (never 2 inside).
#[test]
fn a_future_behind_a_type_alias_runs_unthrottled_and_a_spelled_out_one_holds_its_slot() {
    within(DEADLINE, || {
        common::multi_thread().block_on(async {
            let (a, b) = futures::join!(aliased(), aliased());
            assert_eq!((a, b), (1, 1));
            let (a, b) = futures::join!(spelled(), spelled());
            assert_eq!((a, b), (1, 1));
        })
    });
    assert_eq!(
        ALIASED.peak(),
        2,
        "a future behind a type alias was throttled"
    );
    assert_eq!(
        SPELLED.peak(),
        1,
        "a spelled-out returned future ran outside its slot"
    );
    let (a, s) = (ALIASED_POOL.stats(), SPELLED_POOL.stats());
    assert_eq!(
        (a.running, s.running, s.completed),
        (0, 0, 2),
        "{a:?} {s:?}"
    );
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The number just before `words` in the README (`"86 trybuild cases"`).
fn readme_count(words: &str) -> usize {
    let text = readme();
    let at = text
        .find(words)
        .unwrap_or_else(|| panic!("{words:?} not in the README"));
    let digits: String = text[..at]
        .trim_end()
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap()
}

fn files_in(dir: &str, ext: &str) -> usize {
    std::fs::read_dir(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == ext)
        })
        .count()
}

/// README line 161: "Misuse is a compile error on the offending token: 86
/// trybuild cases in `tests/ui/fail`." Counted: the `.rs` cases in
/// `tests/ui/fail` (each with its `.stderr`).
#[test]
fn the_readmes_count_of_compile_fail_cases_is_the_number_in_tests_ui_fail() {
    let cases = files_in("tests/ui/fail", "rs");
    assert_eq!(files_in("tests/ui/fail", "stderr"), cases);
    assert_eq!(readme_count("trybuild cases in"), cases);
}

/// README line 544: "— 26 `loom` models (~50 s)". Counted: the `#[test]`s
/// of `pool-runtime/tests/loom.rs`.
#[test]
fn the_readmes_count_of_loom_models_is_the_number_in_the_loom_tests() {
    let loom = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pool-runtime/tests/loom.rs"
    ))
    .unwrap();
    assert_eq!(
        readme_count("`loom` models"),
        loom.matches("#[test]").count()
    );
}

/// The README's `Api` group, without a fleet limit.
#[cfg(feature = "redis")]
#[pooled::group(size = 2)]
pub struct Api;

/// README lines 354–356: "before a process exits, await its flush (with a
/// timeout) ...: `if let Some(fleet) = Api::POOL.fleet() {
/// tokio::time::timeout(d, fleet.flush()).await.ok(); }`". The line compiles
/// as written on a declared group, and a group without a fleet limit has no
/// fleet (so the line does nothing there).
#[cfg(feature = "redis")]
#[test]
fn the_readmes_flush_line_compiles_and_a_group_without_a_fleet_limit_has_none() {
    let d = Duration::from_secs(1);
    let flushed = within(DEADLINE, move || {
        common::multi_thread().block_on(async move {
            let mut flushed = false;
            if let Some(fleet) = Api::POOL.fleet() {
                tokio::time::timeout(d, fleet.flush()).await.ok();
                flushed = true;
            }
            flushed
        })
    });
    assert!(!flushed, "a group without a fleet limit has a fleet");
}
