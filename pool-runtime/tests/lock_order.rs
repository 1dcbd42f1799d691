//! Reading settings (`Group::settings`, `groups()`) races configuration
//! reloads and groups' first uses without deadlock: the configuration lock and
//! the groups' locks are never taken in opposite orders.
//!
//! Each race runs on its own threads and reports on a channel; the test waits
//! for it with a bound, so a deadlock fails the test instead of hanging it.
#![cfg(feature = "config")]

use pool_runtime::config;
use pool_runtime::{register_group, Group, GroupSpec};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// Far beyond what the races need (well under a second each): reaching it
/// means the threads are stuck.
const WATCHDOG: Duration = Duration::from_secs(120);

/// Configuration is process-wide: tests that load it take turns.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `race` (on a clear configuration, one test at a time) on a thread of
/// its own and fails the test if it has not finished within [`WATCHDOG`]:
/// stuck threads are left behind, and so is a test stuck behind them.
fn within_watchdog(what: &str, race: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let _serial = serial();
        config::clear();
        race();
        config::clear();
        let _ = done.send(());
    });
    match finished.recv_timeout(WATCHDOG) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock: {what} did not finish within {WATCHDOG:?}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

static IDLE: Group = Group::new(GroupSpec::new("race::idle").size(2));
register_group!(IDLE);

#[test]
fn settings_and_groups_race_reloads_without_deadlock() {
    within_watchdog("reads of settings against reloads", || {
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|i| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut reads = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if i == 0 {
                            assert!([2, 3].contains(&IDLE.settings().starting_size()));
                        } else {
                            assert!(pool_runtime::groups()
                                .iter()
                                .any(|g| g.name == "race::idle"));
                        }
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for i in 0..2_000 {
            let size = 2 + i % 2;
            config::load_str(
                "race.toml",
                &format!("[groups.\"race::idle\"]\nsize = {size}\n"),
            )
            .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        assert!(
            !IDLE.is_started(),
            "reading settings does not start a group"
        );
    });
}

macro_rules! first_use_groups {
    ($($g:ident)*) => {
        $(
            static $g: Group = Group::new(GroupSpec::new(concat!("race::first_use::", stringify!($g))).size(2));
            register_group!($g);
        )*
        const FIRST_USE: &[&Group] = &[$(&$g),*];
    };
}

first_use_groups!(
    F00 F01 F02 F03 F04 F05 F06 F07 F08 F09 F10 F11 F12 F13 F14 F15
    F16 F17 F18 F19 F20 F21 F22 F23 F24 F25 F26 F27 F28 F29 F30 F31
    F32 F33 F34 F35 F36 F37 F38 F39 F40 F41 F42 F43 F44 F45 F46 F47
    F48 F49 F50 F51 F52 F53 F54 F55 F56 F57 F58 F59 F60 F61 F62 F63
);

#[test]
fn settings_and_groups_race_first_uses_and_reloads_without_deadlock() {
    within_watchdog("reads of settings against first uses", || {
        let stop = Arc::new(AtomicBool::new(false));
        let reloader = {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let size = 2 + i % 2;
                    let text = format!("[defaults]\nsize = {size}\n");
                    config::load_str("race.toml", &text).unwrap();
                    i += 1;
                }
            })
        };
        for group in FIRST_USE {
            let start = Arc::new(Barrier::new(3));
            let reader = {
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    while !group.is_started() {
                        assert!([2, 3].contains(&group.settings().starting_size()));
                    }
                })
            };
            let lister = {
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    while !group.is_started() {
                        let _ = pool_runtime::groups();
                    }
                })
            };
            start.wait();
            assert_eq!(group.run(|| 7), Ok(7), "first use");
            reader.join().unwrap();
            lister.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        reloader.join().unwrap();
    });
}
