//! Helpers shared by the facade's test files (each declares `mod common;`;
//! a file uses what it needs).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// Counts bodies running at once, from outside the library, and remembers
/// the most seen.
pub struct Meter {
    now: AtomicUsize,
    peak: AtomicUsize,
    done: AtomicUsize,
}

impl Meter {
    pub const fn new() -> Meter {
        Meter {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        }
    }

    /// A body starts; it ends when the returned guard drops.
    pub fn enter(&self) -> Inside<'_> {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        Inside(self)
    }

    /// Bodies running now.
    pub fn now(&self) -> usize {
        self.now.load(SeqCst)
    }

    /// The most bodies seen running at once.
    pub fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    /// Bodies that have ended.
    pub fn done(&self) -> usize {
        self.done.load(SeqCst)
    }
}

/// A body counted by a [`Meter`], until dropped.
pub struct Inside<'a>(&'a Meter);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, SeqCst);
        self.0.done.fetch_add(1, SeqCst);
    }
}

/// Runs `f` on a thread of its own and returns its result (its panic goes
/// on); a hang past `limit` is a failure instead of a hung suite.
#[track_caller]
pub fn within<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => out,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("hung: no answer within {limit:?}"),
    }
}

/// Configuration is process-wide: the tests of one binary that load it take
/// turns, each starting from no configuration.
#[cfg(feature = "config")]
pub fn config_turn() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    pooled::config::clear();
    guard
}

/// Environment variables as `config::load_env_from` takes them.
pub fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A multi-thread tokio runtime of two workers, with time and I/O.
pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The variable naming the test a child process runs ([`in_child_process`]).
pub const CHILD: &str = "POOLED_FACADE_TEST_CHILD";

/// [`in_child_process`], its stderr unread.
pub fn in_own_process(name: &str, env: &[(&str, &str)], scenario: impl FnOnce()) {
    in_child_process(name, env, scenario);
}

/// Whether this process is a child [`in_child_process`] started.
pub fn is_child_process() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the test `name` (the calling test's own) again in a child process
/// of this test binary with `env` set and the parent's `POOLED_CONFIG` and
/// `POOLED_CEILING` removed, and returns its stderr once it passed (a child
/// that fails, or still runs after 40 s and is killed, fails the test). In
/// the child, runs `scenario` and returns `None`. For what a process does
/// once: a group's first use reads the environment. An ignored test's child
/// runs it too (`--include-ignored`), so `--ignored` runs the scenario.
pub fn in_child_process(
    name: &str,
    env: &[(&str, &str)],
    scenario: impl FnOnce(),
) -> Option<String> {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        scenario();
        return None;
    }
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            name,
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(CHILD, name)
        .env_remove("POOLED_CONFIG")
        .env_remove("POOLED_CEILING")
        .envs(env.iter().copied());
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(40) {
            let _ = child.kill();
            panic!("{name}: the child process hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name}: the child failed\n{stdout}{stderr}"
    );
    Some(stderr)
}

/// Waits, at most 20 s, until `cond` holds (a condition on state, looked at
/// every millisecond, not a sleep as synchronization); fails naming `what`.
#[track_caller]
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "never: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
