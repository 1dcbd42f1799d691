//! Fleet settings that fail their check are never silent (feature `redis`):
//! a configuration load refuses them at the file's line and column (or the
//! variable), even next to an error of the declaration's own; a
//! hand-written declaration that carries them starts without a fleet, runs
//! its calls under its local limit, and warns once at its first use,
//! through `log` and `tracing`, however many threads make that first use at
//! once. No Redis is needed: nothing here may reach one.
//!
//! Its own process: it installs a global logger and tracing subscriber.
#![cfg(all(feature = "redis", feature = "config", feature = "tracing"))]

mod common;
use common::{config_turn, vars};
use pool_runtime::config::{self, Origin};
use pool_runtime::{register_group, BuildError, Group, GroupSpec};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::Layer;

/// Every warning seen, from `log` and from `tracing`.
#[derive(Default)]
struct Seen {
    /// (target, message) of each `log` record at WARN.
    logs: Vec<(String, String)>,
    /// (message, pool, error) of each `tracing` event at WARN.
    events: Vec<(String, String, String)>,
}

fn seen() -> &'static Mutex<Seen> {
    static SEEN: OnceLock<&'static Mutex<Seen>> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen: &'static Mutex<Seen> = Box::leak(Box::default());
        log::set_logger(Box::leak(Box::new(Logger(seen)))).expect("the only logger");
        log::set_max_level(log::LevelFilter::Warn);
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Events(seen)))
            .expect("the only subscriber");
        seen
    })
}

struct Logger(&'static Mutex<Seen>);

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let entry = (record.target().to_owned(), record.args().to_string());
            self.0.lock().unwrap().logs.push(entry);
        }
    }
    fn flush(&self) {}
}

struct Events(&'static Mutex<Seen>);

#[derive(Default)]
struct Fields {
    message: String,
    pool: String,
    error: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            "pool" => self.pool = text.trim_matches('"').to_owned(),
            "error" => self.error = text,
            _ => {}
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

impl<S: Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = Fields::default();
            event.record(&mut fields);
            let entry = (fields.message, fields.pool, fields.error);
            self.0.lock().unwrap().events.push(entry);
        }
    }
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// A hand-written group (not checked by the attribute), never registered.
fn declared(name: &str, spec: impl FnOnce(GroupSpec) -> GroupSpec) -> &'static Group {
    Box::leak(Box::new(Group::new(spec(
        GroupSpec::new(leak(name.to_owned())).size(2),
    ))))
}

/// Each kind of bad fleet setting in a hand-written declaration: its first
/// use, made by eight threads at once, warns exactly once through `log` and
/// once through `tracing`, naming the group and the error the check gives;
/// the calls run (under the local limit of 2, counted from outside); the
/// group has no fleet; and the check gives the same error as a value.
#[test]
fn a_declared_fleet_that_fails_its_check_warns_once_at_first_use_and_runs_locally() {
    seen();
    type Bad = fn(GroupSpec) -> GroupSpec;
    let bad: [(&str, Bad); 6] = [
        ("no_url", |s| s.fleet_limit(3)),
        ("http_url", |s| {
            s.fleet_limit(3).fleet_url("http://127.0.0.1:1")
        }),
        ("limit_0", |s| {
            s.fleet_limit(0).fleet_url("redis://127.0.0.1:1")
        }),
        ("lease_1ms", |s| {
            s.fleet_limit(3)
                .fleet_url("redis://127.0.0.1:1")
                .fleet_lease(Duration::from_millis(1))
        }),
        ("lease_max", |s| {
            s.fleet_limit(3)
                .fleet_url("redis://127.0.0.1:1")
                .fleet_lease(Duration::MAX)
        }),
        ("limit_too_large", |s| {
            s.fleet_limit(pool_runtime::MAX_SLOTS + 1)
                .fleet_url("redis://127.0.0.1:1")
        }),
    ];
    for (what, bad) in bad {
        let name = format!("refused::{what}");
        let group = declared(&name, bad);
        let error: BuildError = group.settings().check().expect_err(what);
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (now, peak, start) = (now.clone(), peak.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    group.run(|| {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        now.fetch_sub(1, Ordering::SeqCst);
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(
                t.join().unwrap(),
                Ok(()),
                "{what}: runs under the local limit"
            );
        }
        assert!(
            peak.load(Ordering::SeqCst) <= 2,
            "{what}: the local limit holds"
        );
        assert!(group.fleet().is_none(), "{what}: no fleet");
        assert_eq!(group.run(|| 1), Ok(1), "{what}");
        let seen = seen().lock().unwrap();
        let logs: Vec<_> = seen
            .logs
            .iter()
            .filter(|(_, message)| message.starts_with(&format!("group {name}: ")))
            .collect();
        assert_eq!(logs.len(), 1, "{what}: one log warning: {logs:?}");
        assert_eq!(logs[0].0, "pooled::fleet", "{what}");
        assert!(
            logs[0].1.contains("fleet settings refused")
                && logs[0].1.contains(&error.to_string())
                && logs[0].1.contains("local limit"),
            "{what}: {}",
            logs[0].1
        );
        let events: Vec<_> = seen.events.iter().filter(|e| e.1 == name).collect();
        assert_eq!(events.len(), 1, "{what}: one tracing event: {events:?}");
        assert_eq!(
            (events[0].0.as_str(), events[0].2.as_str()),
            ("fleet settings refused", error.to_string().as_str()),
            "{what}"
        );
    }
    // A group with a URL but no fleet limit has no fleet to refuse: it warns
    // nothing.
    let plain = declared("refused::none", |s| s.fleet_url("redis://127.0.0.1:1"));
    assert_eq!(plain.run(|| 1), Ok(1));
    assert!(plain.fleet().is_none());
    let seen = seen().lock().unwrap();
    assert!(
        !seen.logs.iter().any(|(_, m)| m.contains("refused::none")),
        "{:?}",
        seen.logs
    );
}

static BAD_SIZE: Group = Group::new(GroupSpec::new("refused::bad_size").size(0));
static GOOD: Group = Group::new(
    GroupSpec::new("refused::good")
        .size(2)
        .fleet_limit(4)
        .fleet_url("redis://127.0.0.1:1"),
);
register_group!(BAD_SIZE);
register_group!(GOOD);

fn at(line: usize, column: usize) -> Option<Origin> {
    Some(Origin::File {
        path: "fleet.toml".into(),
        line,
        column,
    })
}

/// A bad fleet setting from the file or the environment is a load error at
/// its place, and the load changes nothing — also for a group whose
/// declaration has an error of its own (a hand-written `size = 0`, which
/// the check finds first and configuration does not report), and on a
/// reload after a good load.
#[test]
fn a_bad_fleet_setting_from_the_file_or_the_environment_is_a_load_error_at_its_place() {
    let _serial = config_turn();
    seen();
    // Next to a declared error: a limit without a URL, a URL of another
    // scheme, a lease out of range.
    let e = config::load_str(
        "fleet.toml",
        "[groups.\"refused::bad_size\"]\nfleet_limit = 4\n",
    )
    .unwrap_err();
    assert_eq!(e.origin().cloned(), at(2, 15), "{e}");
    assert!(e.message().contains("fleet_url"), "{e}");
    assert_eq!(BAD_SIZE.settings().fleet.limit, None, "nothing changed");
    let e = config::load_str(
        "fleet.toml",
        "[groups.\"refused::bad_size\"]\nfleet_limit = 4\nfleet_url = \"http://x:1\"\n",
    )
    .unwrap_err();
    assert_eq!(e.origin().cloned(), at(3, 13), "{e}");
    let e = config::load_env_from(vars(&[
        ("POOLED_REFUSED__BAD_SIZE_FLEET_LIMIT", "4"),
        ("POOLED_REFUSED__BAD_SIZE_FLEET_URL", "redis://127.0.0.1:1"),
        ("POOLED_REFUSED__BAD_SIZE_FLEET_LEASE", "50ms"),
    ]))
    .unwrap_err();
    assert_eq!(
        e.origin(),
        Some(&Origin::Env {
            var: "POOLED_REFUSED__BAD_SIZE_FLEET_LEASE".into()
        }),
        "{e}"
    );
    assert!(e.message().contains("fleet_lease"), "{e}");
    // A reload that breaks a good fleet is refused, and keeps the good one.
    config::load_str(
        "fleet.toml",
        "[groups.\"refused::good\"]\nfleet_limit = 6\n",
    )
    .unwrap();
    assert_eq!(GOOD.settings().fleet.limit, Some(6));
    let e = config::load_str(
        "fleet.toml",
        "[groups.\"refused::good\"]\nfleet_limit = 6\nfleet_url = \"\"\n",
    )
    .unwrap_err();
    assert_eq!(e.origin().cloned(), at(3, 13), "{e}");
    let e = config::load_str(
        "fleet.toml",
        "[groups.\"refused::good\"]\nfleet_limit = 0\n",
    )
    .unwrap_err();
    assert_eq!(e.origin().cloned(), at(2, 15), "{e}");
    assert_eq!(GOOD.settings().fleet.limit, Some(6), "the good load stands");
    config::clear();
    assert!(
        seen()
            .lock()
            .unwrap()
            .logs
            .iter()
            .all(|(_, m)| !m.contains("refused::good")),
        "a refused load warns nothing: it is an error"
    );
}
