//! README promises that need a process of their own: "A `POOLED_*` variable
//! that does not end in a setting's name (`POOLED_DB_URL`) is ignored with a
//! warning through the `log` facade; one for a misspelt group fails the load
//! with a suggestion".
//!
//! Its own process: it installs a global logger.
#![cfg(feature = "config")]

use pool_runtime::config;
use pool_runtime::{register_group, Group, GroupSpec};
use std::sync::{Mutex, OnceLock};

static BILLING: Group = Group::new(GroupSpec::new("billing::api::charge").size(2));
register_group!(BILLING);

fn warnings() -> &'static Mutex<Vec<(String, String)>> {
    static SEEN: OnceLock<&'static Mutex<Vec<(String, String)>>> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen: &'static Mutex<Vec<(String, String)>> = Box::leak(Box::default());
        log::set_logger(Box::leak(Box::new(Logger(seen)))).expect("the only logger");
        log::set_max_level(log::LevelFilter::Warn);
        seen
    })
}

struct Logger(&'static Mutex<Vec<(String, String)>>);

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let entry = (record.target().to_owned(), record.args().to_string());
            self.0.lock().unwrap().push(entry);
        }
    }
    fn flush(&self) {}
}

fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The tests here load the environment layer: they take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn a_variable_naming_no_setting_is_ignored_with_a_warning_and_a_misspelt_group_fails() {
    let _turn = turn();
    let seen = warnings();
    let report = config::load_env_from(vars(&[
        ("POOLED_DB_URL", "postgres://db"),
        ("POOLED_BILLING__API__CHARGE_MAX_WAITING", "48"),
    ]))
    .expect("POOLED_DB_URL is not an error");
    assert_eq!(BILLING.settings().max_waiting, Some(48), "{report}");
    let logged = seen.lock().unwrap().clone();
    assert!(
        logged.iter().any(
            |(target, message)| target == "pooled::config" && message.contains("POOLED_DB_URL")
        ),
        "{logged:?}"
    );

    let err = config::load_env_from(vars(&[("POOLED_BILLING__API__CHARG_MAX_WAITING", "4")]))
        .expect_err("a misspelt group");
    let message = err.to_string();
    assert!(
        message.contains("POOLED_BILLING__API__CHARG_MAX_WAITING"),
        "{message}"
    );
    assert!(
        message.contains("did you mean `POOLED_BILLING__API__CHARGE_MAX_WAITING`?"),
        "{message}"
    );
    assert_eq!(
        BILLING.settings().max_waiting,
        Some(48),
        "a failed load changes nothing"
    );
    assert_eq!(
        config::mangle("billing::api::charge"),
        "BILLING__API__CHARGE"
    );
    assert_eq!(
        config::mangle("app.v2-client::fetch"),
        "APP_V2_CLIENT__FETCH"
    );
}

// The ceiling: "nested calls follow the reentrancy rule for the ceiling too
// (one at a time under their parent's ceiling slot)" — counted from outside,
// with two nested calls into another group joined under a ceiling of 1.

static OUTER: Group = Group::new(GroupSpec::new("docs::ceiling_outer").size(4));
static INNER: Group = Group::new(GroupSpec::new("docs::ceiling_inner").size(4));
register_group!(OUTER);
register_group!(INNER);

#[test]
fn nested_calls_under_a_ceiling_of_one_run_one_at_a_time_without_deadlock() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;
    let _turn = turn();
    config::load_env_from(vars(&[("POOLED_CEILING", "1")])).unwrap();
    static NOW: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);
    let nested = || {
        INNER.submit(0, async {
            let now = NOW.fetch_add(1, SeqCst) + 1;
            MOST.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            NOW.fetch_sub(1, SeqCst);
        })
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            OUTER.submit(0, async { tokio::join!(nested(), nested(), nested()) }),
        )
        .await
    });
    let (a, b, c) = out.expect("no deadlock").unwrap();
    assert_eq!((a, b, c), (Ok(()), Ok(()), Ok(())));
    assert_eq!(
        MOST.load(SeqCst),
        1,
        "one nested call at a time under the ceiling slot"
    );
    let ceiling = pool_runtime::ceiling::stats().unwrap();
    assert_eq!((ceiling.running, ceiling.waiting), (0, 0));
    config::load_env_from(Vec::new()).unwrap();
}

// "Errors name the file, line and column (or the variable) and the valid
// choices": a count that does not parse names the setting's own range, not
// the machine's (`autoscale_window` 1 to 4096, `fleet_limit` 1 to
// MAX_SLOTS, `adaptive_window_samples` 1 to 10000).

static COUNTED: Group = Group::new(GroupSpec::new("docs::counted").size(2));
register_group!(COUNTED);

#[test]
fn a_count_that_does_not_parse_names_the_settings_own_range() {
    let _turn = turn();
    let cases = [
        ("AUTOSCALE_WINDOW", "autoscale_window", "1 to 4096"),
        ("FLEET_LIMIT", "fleet_limit", "1 to 1073741823"),
        (
            "ADAPTIVE_WINDOW_SAMPLES",
            "adaptive_window_samples",
            "1 to 10000",
        ),
    ];
    for (var, key, range) in cases {
        let var = format!("POOLED_DOCS__COUNTED_{var}");
        let err = config::load_env_from(vars(&[(var.as_str(), "many")])).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("environment variable {var}: ")),
            "{message}"
        );
        assert!(message.contains(range), "{message}");
        assert!(!message.contains(&usize::MAX.to_string()), "{message}");

        let text = format!("[groups.\"docs::counted\"]\n{key} = -1\n");
        let err = config::load_str("c.toml", &text).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("c.toml:2:"), "{message}");
        assert!(message.contains(range), "{message}");
        assert!(!message.contains(&usize::MAX.to_string()), "{message}");
    }
}

// A fleet limit without a URL is refused by `GroupSettings::check` with a
// message that says the URL is missing (not "`fleet_url` =  is out of range").
#[cfg(feature = "redis")]
#[test]
fn a_fleet_limit_without_a_url_is_refused_saying_the_url_is_missing() {
    use pool_runtime::GroupSettings;
    for settings in [
        GroupSettings::DEFAULT.fleet_limit(2),
        GroupSettings::DEFAULT.fleet_limit(2).fleet_url(""),
    ] {
        let message = settings.check().unwrap_err().to_string();
        assert!(message.starts_with("`fleet_url` = "), "{message}");
        assert!(!message.contains("=  "), "{message}");
        assert!(message.contains("a fleet limit needs one"), "{message}");
    }
}
