//! Acceptance tests of the facade, round 17: the generated handles of a
//! declared group (shared by its functions, counted from outside), the
//! rejection table's "waits" row on groups whose bounds would reject, sync
//! `#[pooled]` functions on plain threads, nested sync → async → sync in one
//! group, a current-thread runtime's blocking threads, configuration errors'
//! positions and variables, and `config::watch` on live pools.
//!
//! Concurrency is counted by the bodies themselves ([`Meter`]); waits are
//! bounded only to turn a hang into a failure.
#![cfg(all(feature = "config", feature = "tokio"))]

mod common;
use common::{vars, within, Meter};
use pooled::config::{self, Origin};
use pooled::Rejected;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Every wait is over by then, or the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// Configuration is process-wide (a `[defaults]` table resizes every fixed
/// group): every test takes its turn.
static CONFIG: Mutex<()> = Mutex::new(());

fn config_lock() -> MutexGuard<'static, ()> {
    CONFIG.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bodies running at once, counted from outside, with a peak that a phase
/// can reset (the shared [`Meter`] cannot).
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    const fn new() -> Gauge {
        Gauge {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    fn enter(&self) -> GaugeIn<'_> {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        GaugeIn(self)
    }

    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    fn reset(&self) {
        assert_eq!(self.now.load(SeqCst), 0, "a phase still runs");
        self.peak.store(0, SeqCst);
    }
}

struct GaugeIn<'a>(&'a Gauge);

impl Drop for GaugeIn<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, SeqCst);
    }
}

/// Waits (bounded, on this thread) until `cond` holds.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits (bounded, in a task) until `cond` holds.
async fn until_async(what: &str, mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never happened: {what}"));
}

// ---------------------------------------------------------------------------
// Handles of a declared group
// ---------------------------------------------------------------------------

#[pooled::group(size = 2)]
struct Shared;

static SHARED_METER: Gauge = Gauge::new();
static SHARED_TARGET: AtomicUsize = AtomicUsize::new(0);

/// A body that holds its slot until the meter has seen the target at once.
async fn shared_body() {
    let _in = SHARED_METER.enter();
    let target = SHARED_TARGET.load(SeqCst);
    until_async("the group's limit reached at once", || {
        SHARED_METER.peak() >= target
    })
    .await;
}

#[pooled::pooled(group = Shared)]
async fn shared_fetch(n: u32) -> Result<u32, Rejected> {
    shared_body().await;
    Ok(n)
}

#[pooled::pooled(group = Shared)]
async fn shared_store(n: u32) -> std::io::Result<u32> {
    shared_body().await;
    Ok(n)
}

#[pooled::pooled(group = Shared)]
fn shared_sync(n: u32) -> u32 {
    n
}

/// Runs 8 calls of the group's two functions at once; the most bodies seen
/// running together.
async fn shared_phase(target: usize) -> usize {
    SHARED_METER.reset();
    SHARED_TARGET.store(target, SeqCst);
    let mut tasks = Vec::new();
    for i in 0..8u32 {
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                shared_fetch(i).await.unwrap()
            } else {
                shared_store(i).await.unwrap()
            }
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), i as u32);
    }
    SHARED_METER.peak()
}

/// `pool-macros/src/lib.rs` (`#[pooled::group]`): "The struct ... gains an
/// associated `POOL: &'static Group`, the group's handle" — "one handle for
/// the whole group"; README: "handles: scale, resize, pause, resume,
/// is_paused, size, stats". The limit, `resize`, `scale`, `pause` and
/// `resume` of `Shared::POOL` govern both functions of the group together
/// (counted from outside), and a paused group makes a non-`Result` function
/// wait "until `resume()`" (the rejection table).
#[test]
fn a_declared_groups_handle_governs_every_function_of_the_group() {
    let _cfg = config_lock();
    common::multi_thread()
        .block_on(a_declared_groups_handle_governs_every_function_of_the_group_body());
}

async fn a_declared_groups_handle_governs_every_function_of_the_group_body() {
    assert_eq!(Shared::POOL.size(), 2);
    assert_eq!(shared_phase(2).await, 2, "size 2 across both functions");
    assert_eq!(Shared::POOL.resize(3), 3);
    assert_eq!(shared_phase(3).await, 3, "resize(3) across both functions");
    assert_eq!(Shared::POOL.scale(-2), 1);
    assert_eq!(shared_phase(1).await, 1, "scale(-2) across both functions");
    assert_eq!(Shared::POOL.stats().completed, 24);

    Shared::POOL.pause();
    assert!(Shared::POOL.is_paused());
    assert_eq!(shared_fetch(1).await, Err(Rejected::Paused));
    let err = shared_store(1).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Other, "{err}");
    // A function that cannot return an error waits until `resume()`.
    let waiter = std::thread::spawn(|| shared_sync(9));
    until("the sync call waits in the paused group", || {
        Shared::POOL.stats().waiting == 1
    });
    assert!(!waiter.is_finished(), "ran while paused");
    Shared::POOL.resume();
    assert!(!Shared::POOL.is_paused());
    let waiter = within(DEADLINE, move || waiter.join().unwrap());
    assert_eq!(waiter, 9);
    assert_eq!(shared_fetch(5).await, Ok(5));
    assert_eq!(Shared::POOL.stats().rejected_for(Rejected::Paused), 2);
    Shared::POOL.resize(2);
}

// ---------------------------------------------------------------------------
// The rejection table's second row, on groups whose bounds reject
// ---------------------------------------------------------------------------

#[pooled::group(size = 1, max_waiting = 0)]
struct NoQueue;

#[pooled::pooled(group = NoQueue)]
async fn no_queue_try() -> Result<u8, Rejected> {
    Ok(1)
}

#[pooled::pooled(group = NoQueue)]
async fn no_queue_wait() -> u8 {
    2
}

/// `pool-macros/src/lib.rs`, "Rejections": a function that "returns anything
/// else, or has `wait`" gets "`Full`: waits (no bound)". In a group with
/// `max_waiting = 0` whose slot is taken, the `Result` function is turned
/// away with `Full`; the other one waits and runs once the slot frees.
#[test]
fn a_never_rejecting_function_waits_past_its_groups_waiting_bound() {
    let _cfg = config_lock();
    common::multi_thread()
        .block_on(a_never_rejecting_function_waits_past_its_groups_waiting_bound_body());
}

async fn a_never_rejecting_function_waits_past_its_groups_waiting_bound_body() {
    let permit = NoQueue::POOL.try_acquire(0).unwrap();
    assert_eq!(no_queue_try().await, Err(Rejected::Full));
    let waiter = tokio::spawn(no_queue_wait());
    until_async("the never-rejecting call waits", || {
        NoQueue::POOL.stats().waiting == 1
    })
    .await;
    assert_eq!(no_queue_try().await, Err(Rejected::Full), "its bound holds");
    assert!(!waiter.is_finished());
    drop(permit);
    let out = tokio::time::timeout(DEADLINE, waiter).await.unwrap();
    assert_eq!(out.unwrap(), 2);
}

#[pooled::group(size = 1, admission_timeout = "20ms")]
struct ShortWait;

#[pooled::pooled(group = ShortWait)]
fn short_wait_try() -> Result<u8, Rejected> {
    Ok(1)
}

#[pooled::pooled(group = ShortWait)]
fn short_wait_wait() -> u8 {
    2
}

/// `pool-macros/src/lib.rs`, "Rejections": `TimedOut` — "waits (no
/// timeout)" for a function that cannot return an error. The `Result`
/// function times out; the other one is still waiting after the one that
/// timed out waited past the same timeout, and runs once the slot frees.
#[test]
fn a_never_rejecting_function_waits_past_its_groups_admission_timeout() {
    let _cfg = config_lock();
    within(DEADLINE, || {
        let permit = ShortWait::POOL.try_acquire(0).unwrap();
        let waiter = std::thread::spawn(short_wait_wait);
        until("the never-rejecting call waits", || {
            ShortWait::POOL.stats().waiting == 1
        });
        assert_eq!(short_wait_try(), Err(Rejected::TimedOut));
        assert!(!waiter.is_finished(), "still waiting, not turned away");
        assert_eq!(ShortWait::POOL.stats().waiting, 1);
        drop(permit);
        assert_eq!(waiter.join().unwrap(), 2);
    });
}

#[pooled::group(size = 1)]
struct Closing;

#[pooled::pooled(group = Closing)]
async fn closing_try() -> Result<u8, Rejected> {
    Ok(1)
}

static CLOSING_METER: Meter = Meter::new();

#[pooled::pooled(group = Closing)]
async fn closing_wait() -> u8 {
    let _in = CLOSING_METER.enter();
    tokio::task::yield_now().await;
    2
}

/// `pool-macros/src/lib.rs`, "Rejections": `Closed` — "runs (a closed pool
/// still admits it, within its limit)". After the group's pool is closed, the
/// `Result` function gets `Closed`; never-rejecting calls run, one at a time
/// (its size), only once the slot held before the close is freed.
#[test]
fn a_never_rejecting_function_runs_within_the_limit_of_a_closed_group() {
    let _cfg = config_lock();
    common::multi_thread()
        .block_on(a_never_rejecting_function_runs_within_the_limit_of_a_closed_group_body());
}

async fn a_never_rejecting_function_runs_within_the_limit_of_a_closed_group_body() {
    let permit = Closing::POOL.try_acquire(0).unwrap();
    Closing::POOL.pool().close();
    assert_eq!(closing_try().await, Err(Rejected::Closed));
    let waiters: Vec<_> = (0..4).map(|_| tokio::spawn(closing_wait())).collect();
    until_async("the calls wait for the held slot", || {
        Closing::POOL.stats().waiting == 4
    })
    .await;
    assert_eq!(CLOSING_METER.done(), 0, "none ran past the held slot");
    drop(permit);
    for waiter in waiters {
        let out = tokio::time::timeout(DEADLINE, waiter).await.unwrap();
        assert_eq!(out.unwrap(), 2);
    }
    assert_eq!(CLOSING_METER.peak(), 1, "within the limit of 1");
}

// ---------------------------------------------------------------------------
// Sync functions
// ---------------------------------------------------------------------------

static THREADS_METER: Meter = Meter::new();

#[pooled::pooled(size = 3)]
fn from_threads(n: u32) -> u32 {
    let _in = THREADS_METER.enter();
    until("three bodies at once", || THREADS_METER.peak() >= 3);
    n
}

/// `pool-macros/src/lib.rs`, "Sync, async and blocking functions": "A sync
/// function stays sync: the calling thread parks until admitted, then runs
/// the body inline"; "A sync function whose callers are plain threads ... is
/// what the sync form is for". Eight plain threads on a pool of 3: exactly 3
/// bodies at once, every call served.
#[test]
fn a_sync_fn_called_from_plain_threads_runs_its_size_at_once() {
    let _cfg = config_lock();
    within(DEADLINE, || {
        let threads: Vec<_> = (0..8u32)
            .map(|i| std::thread::spawn(move || from_threads(i)))
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap(), i as u32);
        }
    });
    assert_eq!(THREADS_METER.peak(), 3);
    assert_eq!(THREADS_METER.done(), 8);
    assert_eq!(FROM_THREADS_POOL.stats().completed, 8);
}

#[pooled::group(size = 1)]
struct Nest;

static NEST_OUTER: Meter = Meter::new();
static NEST_INNER: Meter = Meter::new();

#[pooled::pooled(group = Nest)]
fn nest_outer(n: u32) -> u32 {
    let _in = NEST_OUTER.enter();
    futures::executor::block_on(nest_middle(n)) + 1
}

#[pooled::pooled(group = Nest)]
async fn nest_middle(n: u32) -> u32 {
    tokio::task::yield_now().await;
    nest_inner(n) + 1
}

#[pooled::pooled(group = Nest)]
fn nest_inner(n: u32) -> u32 {
    let _in = NEST_INNER.enter();
    std::thread::sleep(Duration::from_millis(1));
    n
}

/// README, "Reentrancy rule": a call from inside work holding a slot "(... or
/// made on the thread of sync or blocking work) may run under its parent's
/// slot ..., so nested calls never deadlock a full pool. But the server
/// behind a pool of N never sees more than N calls from it". Sync → async
/// (`block_on` on the sync body's thread) → sync, all in one group of one
/// slot, from four threads: no deadlock, one top-level body and one leaf body
/// at a time, and nothing left counted.
#[test]
fn sync_async_sync_nesting_in_a_group_of_one_neither_deadlocks_nor_exceeds_it() {
    let _cfg = config_lock();
    within(DEADLINE, || {
        let threads: Vec<_> = (0..4u32)
            .map(|i| std::thread::spawn(move || nest_outer(i)))
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap(), i as u32 + 2);
        }
    });
    assert_eq!(NEST_OUTER.peak(), 1);
    assert_eq!(NEST_INNER.peak(), 1);
    assert_eq!(NEST_INNER.done(), 4);
    let s = Nest::POOL.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
}

#[pooled::group(size = 1)]
struct CurrentThread;

#[pooled::pooled(group = CurrentThread)]
async fn current_thread_hold(release: tokio::sync::oneshot::Receiver<()>) -> u8 {
    release.await.unwrap();
    1
}

#[pooled::pooled(group = CurrentThread)]
fn current_thread_sync() -> u8 {
    2
}

/// `pool-macros/src/lib.rs`: "A sync function whose callers are plain
/// threads (or `spawn_blocking` closures) is what the sync form is for";
/// README: only "the thread driving a current-thread runtime" cannot wait (it
/// panics there). From a `spawn_blocking` closure of a current-thread
/// runtime, a sync call waits for the slot a task of that runtime holds, and
/// runs once the task frees it: no panic, no hang.
#[test]
fn a_sync_fn_in_spawn_blocking_of_a_current_thread_runtime_waits_for_a_task() {
    let _cfg = config_lock();
    within(DEADLINE, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (release, held) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(current_thread_hold(held));
            until_async("the task holds the slot", || {
                CurrentThread::POOL.stats().running == 1
            })
            .await;
            let sync_call = tokio::task::spawn_blocking(current_thread_sync);
            until_async("the blocking thread waits", || {
                CurrentThread::POOL.stats().waiting == 1
            })
            .await;
            release.send(()).unwrap();
            assert_eq!(holder.await.unwrap(), 1);
            assert_eq!(sync_call.await.expect("no panic"), 2);
        });
    });
}

#[pooled::group(size = 1)]
struct Joined;

#[pooled::pooled(group = Joined)]
async fn joined_parent() -> (u8, u8) {
    futures::join!(joined_async_child(), async { joined_sync_child() })
}

#[pooled::pooled(group = Joined)]
async fn joined_async_child() -> u8 {
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    1
}

#[pooled::pooled(group = Joined)]
fn joined_sync_child() -> u8 {
    2
}

/// README, "Reentrancy rule": "A *sync* nested call that would have to wait
/// while the slot is lent to another nested call of the same task
/// (`join!(pool.submit(a), async { pool.run(b) })` in a full pool) cannot park
/// the thread that call needs: it panics naming the fix (await the other call
/// first, or make this one async) instead of deadlocking". The same through
/// `#[pooled]` functions of one group: a panic that names the fix, and the
/// group's slot free afterwards.
#[test]
fn a_sync_nested_call_behind_a_joined_sibling_panics_naming_the_fix() {
    let _cfg = config_lock();
    let message = within(DEADLINE, || {
        let rt = common::multi_thread();
        let out = rt.block_on(async { tokio::spawn(joined_parent()).await });
        let panic = out.expect_err("the sync child panics").into_panic();
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    });
    assert!(message.contains("async"), "names the fix: {message}");
    assert!(
        message
            .to_lowercase()
            .contains("await the other call first"),
        "names the fix: {message}"
    );
    let s = Joined::POOL.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    assert_eq!(Joined::POOL.try_acquire(0).map(drop), Ok(()));
}

// ---------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------

#[pooled::group(size = 2)]
struct Tuned;

const TUNED: &str = "acceptance_round17::Tuned";

/// Loads `text`, expecting an error at `line:column` whose message contains
/// every one of `words`; and that nothing changed (all or nothing).
fn load_error_at(text: &str, line: usize, column: usize, words: &[&str]) {
    let before = Tuned::POOL.settings();
    let err = config::load_str("r17.toml", text).expect_err(text);
    match err.origin() {
        Some(Origin::File {
            path,
            line: l,
            column: c,
        }) => {
            assert_eq!(path, "r17.toml");
            assert_eq!((*l, *c), (line, column), "{err}\nin:\n{text}");
        }
        other => panic!("no file position ({other:?}): {err}\nin:\n{text}"),
    }
    for word in words {
        assert!(err.message().contains(word), "{word:?} in {err}");
    }
    assert!(err
        .to_string()
        .starts_with(&format!("r17.toml:{line}:{column}: ")));
    assert_eq!(Tuned::POOL.settings(), before, "all or nothing: {text}");
}

/// README, "Configuration": "Loads are all or nothing. Errors name the file,
/// line and column (or the variable) and the valid choices; a table naming no
/// known group lists the known ones with a "did you mean"". Positions of a
/// bad type, an unknown key, a bad duration, an out-of-range value, a
/// duplicate key, an unknown group, a bad choice, bounds on a fixed group and
/// a zero ceiling, each after a valid change that must not apply.
#[test]
fn file_errors_name_the_line_and_column_of_the_offending_value() {
    let _cfg = config_lock();
    config::clear();
    let head = format!("# round 17\n[groups.\"{TUNED}\"]\nmax_waiting = 7\n");
    // line 4: the offending line
    load_error_at(&format!("{head}size = \"six\"\n"), 4, 8, &["size"]);
    load_error_at(
        &format!("{head}  sise = 4\n"),
        4,
        3,
        &["sise", "did you mean `size`"],
    );
    load_error_at(
        &format!("{head}admission_timeout = \"2sec\"\n"),
        4,
        21,
        &["sec"],
    );
    load_error_at(
        &format!("{head}max_waiting2 = 1\nsize = 1073741824\n"),
        4,
        1,
        &["max_waiting2"],
    );
    load_error_at(&format!("{head}size = 1073741824\n"), 4, 8, &["1073741823"]);
    load_error_at(&format!("{head}size = 0\n"), 4, 8, &["size"]);
    load_error_at(
        &format!("{head}kind = \"elastic\"\n"),
        4,
        8,
        &["`fixed`", "`autoscale`"],
    );
    load_error_at(&format!("{head}max = 4\n"), 4, 7, &[TUNED, "size"]);
    load_error_at(
        &format!("{head}adaptive_tolerance = 2.0\n"),
        4,
        22,
        &[TUNED, "adaptive"],
    );
    load_error_at(&format!("ceiling = 0\n{head}"), 1, 11, &["ceiling"]);
    // A duplicate key is TOML's error, at the second key.
    load_error_at(&format!("{head}max_waiting = 8\n"), 4, 1, &["duplicate"]);
    // A group table naming no known group: at its name, with a suggestion.
    load_error_at(
        "# c\n[groups.\"acceptance_round17::Tuend\"]\nsize = 4\n",
        2,
        9,
        &["did you mean `acceptance_round17::Tuned`"],
    );
    config::clear();
}

/// README, "Configuration": errors name "the variable"; "one for a misspelt
/// group fails the load with a suggestion"; "A `POOLED_*` variable that does
/// not end in a setting's name (`POOLED_DB_URL`) is ignored".
#[test]
fn environment_errors_name_the_variable() {
    let _cfg = config_lock();
    config::clear();
    let before = Tuned::POOL.settings();
    let var = "POOLED_ACCEPTANCE_ROUND17__TUNED_SIZE";
    let err = config::load_env_from(vars(&[
        ("POOLED_ACCEPTANCE_ROUND17__TUNED_MAX_WAITING", "3"),
        (var, "six"),
    ]))
    .unwrap_err();
    assert_eq!(
        err.origin(),
        Some(&Origin::Env {
            var: var.to_owned()
        }),
        "{err}"
    );
    assert!(err.to_string().contains(var), "{err}");
    assert_eq!(Tuned::POOL.settings(), before, "all or nothing");

    let misspelt = "POOLED_ACCEPTANCE_ROUND17__TUEND_SIZE";
    let err = config::load_env_from(vars(&[(misspelt, "3")])).unwrap_err();
    assert_eq!(
        err.origin(),
        Some(&Origin::Env {
            var: misspelt.to_owned()
        }),
        "{err}"
    );
    assert!(err.message().contains("did you mean"), "{err}");
    assert!(err.message().contains("TUNED"), "{err}");

    config::load_env_from(vars(&[("POOLED_DB_URL", "postgres://x")])).unwrap();
    config::clear();
}

static PRECEDENCE_METER: Gauge = Gauge::new();

#[pooled::pooled(size = 2)]
async fn layered() -> u8 {
    let _in = PRECEDENCE_METER.enter();
    until_async("the configured limit at once", || {
        PRECEDENCE_METER.peak() >= PRECEDENCE_TARGET.load(SeqCst)
    })
    .await;
    1
}

static PRECEDENCE_TARGET: AtomicUsize = AtomicUsize::new(0);

async fn layered_phase(target: usize) -> usize {
    PRECEDENCE_METER.reset();
    PRECEDENCE_TARGET.store(target, SeqCst);
    let tasks: Vec<_> = (0..8).map(|_| tokio::spawn(layered())).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 1);
    }
    PRECEDENCE_METER.peak()
}

/// README, "Configuration": "Precedence: attribute < file `[defaults]` < file
/// group table < environment < `scale`/`resize` calls made at run time (a
/// reload changes a running pool's size only when the configured size
/// changed)". Counted from outside at every step.
#[test]
fn precedence_of_attribute_file_environment_and_run_time_counted_from_outside() {
    let _cfg = config_lock();
    common::multi_thread().block_on(
        precedence_of_attribute_file_environment_and_run_time_counted_from_outside_body(),
    );
}

async fn precedence_of_attribute_file_environment_and_run_time_counted_from_outside_body() {
    config::clear();
    const NAME: &str = "acceptance_round17::layered";
    assert_eq!(layered_phase(2).await, 2, "the attribute");
    config::load_str("p.toml", "[defaults]\nsize = 5\n").unwrap();
    assert_eq!(layered_phase(5).await, 5, "[defaults] beats the attribute");
    let file = format!("[defaults]\nsize = 5\n[groups.\"{NAME}\"]\nsize = 3\n");
    config::load_str("p.toml", &file).unwrap();
    assert_eq!(
        layered_phase(3).await,
        3,
        "the group table beats [defaults]"
    );
    config::load_env_from(vars(&[("POOLED_ACCEPTANCE_ROUND17__LAYERED_SIZE", "4")])).unwrap();
    assert_eq!(layered_phase(4).await, 4, "the environment beats the file");
    LAYERED_POOL.resize(6);
    let file = format!("{file}max_waiting = 100\n");
    config::load_str("p.toml", &file).unwrap();
    assert_eq!(
        LAYERED_POOL.size(),
        6,
        "a reload that did not change the size"
    );
    assert_eq!(layered_phase(6).await, 6, "run time beats a reload");
    config::load_env_from(vars(&[("POOLED_ACCEPTANCE_ROUND17__LAYERED_SIZE", "1")])).unwrap();
    assert_eq!(
        layered_phase(1).await,
        1,
        "a changed configured size applies"
    );
    config::clear();
}

// ---------------------------------------------------------------------------
// config::watch on live pools
// ---------------------------------------------------------------------------

#[pooled::group(size = 1)]
struct Watched;

const WATCHED: &str = "acceptance_round17::Watched";

static WATCH_METER: Gauge = Gauge::new();
static WATCH_TARGET: AtomicUsize = AtomicUsize::new(0);
static WATCH_GATE: AtomicBool = AtomicBool::new(true);

#[pooled::pooled(group = Watched)]
async fn watched(n: u32) -> Result<u32, Rejected> {
    let _in = WATCH_METER.enter();
    until_async("the gate opens", || WATCH_GATE.load(SeqCst)).await;
    until_async("the configured limit at once", || {
        WATCH_METER.peak() >= WATCH_TARGET.load(SeqCst)
    })
    .await;
    Ok(n)
}

async fn watched_phase(target: usize) -> usize {
    WATCH_METER.reset();
    WATCH_TARGET.store(target, SeqCst);
    let tasks: Vec<_> = (0..8).map(|i| tokio::spawn(watched(i))).collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), Ok(i as u32));
    }
    WATCH_METER.peak()
}

/// README, "Configuration": "`pooled::config::watch(path, every, |outcome|
/// ..)` reloads the file whenever its content changes ... and hands each
/// reload's report or error to the callback; a wrong file changes nothing";
/// "Reload applies changed limits to running pools at once (growing admits
/// waiters, shrinking lets running calls finish)". `config::watch` docs: "A
/// file that cannot be read for a while ... is an error passed once, not
/// every `every`; the next readable content is loaded and passed on even if
/// it is what was loaded before (a [`Report`] with no change: the file is
/// back)". Limits counted from outside; calls in flight during a bad file all
/// complete.
#[test]
fn watch_reloads_live_pools_and_keeps_them_through_a_bad_or_missing_file() {
    let _cfg = config_lock();
    common::multi_thread()
        .block_on(watch_reloads_live_pools_and_keeps_them_through_a_bad_or_missing_file_body());
}

async fn watch_reloads_live_pools_and_keeps_them_through_a_bad_or_missing_file_body() {
    config::clear();
    let path = std::env::temp_dir().join(format!("pooled-r17-watch-{}.toml", std::process::id()));
    let shown = path.display().to_string();
    let table = |size: &str| format!("[groups.\"{WATCHED}\"]\nsize = {size}\n");
    std::fs::write(&path, table("2")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let watch = config::watch(&path, Duration::from_millis(5), move |outcome| {
        let _ = tx.send(outcome);
    })
    .unwrap();
    let next = |rx: &std::sync::mpsc::Receiver<_>| rx.recv_timeout(DEADLINE).expect("a reload");
    assert_eq!(
        Watched::POOL.size(),
        2,
        "the first load, before watch returns"
    );
    assert_eq!(watched_phase(2).await, 2);

    std::fs::write(&path, table("4")).unwrap();
    let report: config::Report = next(&rx).unwrap();
    assert!(report.to_string().contains("size 2 -> 4"), "{report}");
    assert_eq!(watched_phase(4).await, 4, "grown live");

    // Eight calls in flight: four running, four waiting, while a bad file
    // comes and goes.
    WATCH_GATE.store(false, SeqCst);
    WATCH_METER.reset();
    WATCH_TARGET.store(0, SeqCst);
    let in_flight: Vec<_> = (0..8).map(|i| tokio::spawn(watched(i))).collect();
    until_async("four run, four wait", || {
        let s = Watched::POOL.stats();
        s.running == 4 && s.waiting == 4
    })
    .await;
    std::fs::write(
        &path,
        format!("[groups.\"{WATCHED}\"]\nmax_waiting = 0\nsize = \"x\"\n"),
    )
    .unwrap();
    let err = next(&rx).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("{shown}:3:8")),
        "{err}"
    );
    assert_eq!(Watched::POOL.size(), 4, "a wrong file changes nothing");
    assert_eq!(Watched::POOL.settings().max_waiting, None);
    WATCH_GATE.store(true, SeqCst);
    for (i, task) in in_flight.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), Ok(i as u32), "nothing lost");
    }
    assert_eq!(WATCH_METER.peak(), 4);

    std::fs::write(&path, table("3")).unwrap();
    let report = next(&rx).unwrap();
    assert!(report.to_string().contains("size 4 -> 3"), "{report}");
    assert_eq!(watched_phase(3).await, 3, "shrunk live");

    // Gone for a while: one error, not one per look.
    std::fs::remove_file(&path).unwrap();
    assert!(next(&rx).is_err(), "a missing file is an error");
    std::thread::sleep(Duration::from_millis(200));
    let repeated: Vec<_> = rx.try_iter().collect();
    assert!(
        repeated.is_empty(),
        "passed once, not every `every`: {repeated:?}"
    );
    assert_eq!(Watched::POOL.size(), 3);
    std::fs::write(&path, table("3")).unwrap();
    let back = next(&rx).expect("the file is back");
    assert!(back.is_empty(), "the same content: no change: {back}");
    assert_eq!(watched_phase(3).await, 3);

    drop(watch);
    std::fs::remove_file(&path).ok();
    config::clear();
}

// ---------------------------------------------------------------------------
// A bound the attribute left out, under configuration
// ---------------------------------------------------------------------------

#[pooled::group(kind = "autoscale")]
struct NoBounds;

#[pooled::group(kind = "autoscale", max = 2)]
struct MaxOnly;

#[pooled::group(kind = "autoscale", min = 2)]
struct MinOnly;

/// `pool-macros/src/lib.rs`, keys table: `min` defaults to "3, or `max` if
/// smaller"; "The values are the defaults that application-wide
/// configuration may override at run time". For a group that declares no
/// bound, a file's `max = 2` brings the default `min` down with it (the
/// control for the two cases below).
#[test]
fn a_configured_max_brings_the_default_min_of_a_group_without_bounds() {
    let _cfg = config_lock();
    config::clear();
    let text = "[groups.\"acceptance_round17::NoBounds\"]\nmax = 2\n";
    config::load_str("b.toml", text).unwrap();
    let bounds = NoBounds::POOL.settings().check().unwrap().1;
    assert_eq!(bounds, (2, 2));
    config::clear();
}

/// `pool-macros/src/lib.rs`, keys table: `min` | "3, or `max` if smaller";
/// `pool-settings/src/limits.rs`: "one rule for the builder, the attribute
/// and configuration". A group declared `kind = "autoscale", max = 2` never
/// set `min`; a file that lowers `max` to 1 should leave `min` at its
/// default, "`max` if smaller" = 1, as it does for a group declared without
/// bounds (test above). Instead the load fails: "group
/// `acceptance_round17::MaxOnly`: `min` (2) is greater than `max` (1)" — the
/// attribute baked its compile-time default `min = 2` into the group as if
/// written.
#[test]
fn a_configured_max_brings_the_default_min_of_a_group_declaring_only_max() {
    let _cfg = config_lock();
    config::clear();
    let text = "[groups.\"acceptance_round17::MaxOnly\"]\nmax = 1\n";
    let loaded = config::load_str("b.toml", text);
    config::clear();
    loaded.expect("the default min follows the configured max");
    config::load_str("b.toml", text).unwrap();
    let bounds = MaxOnly::POOL.settings().check().unwrap().1;
    config::clear();
    assert_eq!(bounds, (1, 1));
}

/// `pool-macros/src/lib.rs`, keys table: `max` | "`min + 5`" by default. A
/// group declared `kind = "autoscale", min = 2` never set `max`; raising
/// `min` to 10 from the environment should leave `max` at its default,
/// `min + 5` = 15. Instead the load fails: "`min` (10) is greater than `max`
/// (7)", a `max` nobody wrote.
#[test]
fn a_configured_min_brings_the_default_max_of_a_group_declaring_only_min() {
    let _cfg = config_lock();
    config::clear();
    let loaded = config::load_env_from(vars(&[("POOLED_ACCEPTANCE_ROUND17__MINONLY_MIN", "10")]));
    let bounds = MinOnly::POOL.settings().check().unwrap().1;
    config::clear();
    loaded.expect("the default max follows the configured min");
    assert_eq!(bounds, (10, 15));
}

// ---------------------------------------------------------------------------
// Sync functions on tokio runtimes, nested
// ---------------------------------------------------------------------------

/// Returns `Pending` once, waking itself (runtime-agnostic, unlike tokio's
/// `yield_now`, which defers its wake to the runtime).
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

#[pooled::group(size = 1)]
struct OnWorkers;

static WORKERS_TOP: Meter = Meter::new();
static WORKERS_LEAF: Meter = Meter::new();

#[pooled::pooled(group = OnWorkers)]
fn workers_outer(n: u32) -> u32 {
    let _in = WORKERS_TOP.enter();
    std::thread::sleep(Duration::from_millis(2));
    futures::executor::block_on(workers_middle(n)) + 1
}

#[pooled::pooled(group = OnWorkers)]
async fn workers_middle(n: u32) -> u32 {
    yield_once().await;
    workers_inner(n) + 1
}

#[pooled::pooled(group = OnWorkers)]
fn workers_inner(n: u32) -> u32 {
    let _in = WORKERS_LEAF.enter();
    n
}

/// `pool-macros/src/lib.rs`: "On a multi-thread tokio runtime the wait first
/// hands the worker's other tasks to another thread (`block_in_place`)";
/// README, "Reentrancy rule" (nested calls "made on the thread of sync or
/// blocking work ... may run under its parent's slot"). Eight tasks of a
/// multi-thread runtime call a sync function of a one-slot group, whose body
/// runs an async function of the group (`block_on`) that calls a sync one:
/// no deadlock, one top-level body at a time, every call served.
#[test]
fn sync_calls_from_runtime_workers_nesting_async_and_sync_in_one_group() {
    let _cfg = config_lock();
    within(DEADLINE, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..8u32)
                .map(|i| tokio::spawn(async move { workers_outer(i) }))
                .collect();
            for (i, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), i as u32 + 2);
            }
        });
    });
    assert_eq!(WORKERS_TOP.peak(), 1);
    assert_eq!(WORKERS_LEAF.peak(), 1);
    assert_eq!(WORKERS_LEAF.done(), 8);
    let s = OnWorkers::POOL.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
}

#[pooled::group(size = 1)]
struct CurrentNested;

#[pooled::pooled(group = CurrentNested)]
async fn current_nested_parent(n: u32) -> u32 {
    tokio::task::yield_now().await;
    current_nested_child(n) + 1
}

#[pooled::pooled(group = CurrentNested)]
fn current_nested_child(n: u32) -> u32 {
    n
}

/// README, "Sync callers on async threads": on the thread driving a
/// current-thread runtime a sync call that must wait panics, but "A call that
/// finds a free slot never waits, so it works anywhere" — and a sync call
/// nested in the work of an async call of its group runs under that call's
/// slot (the reentrancy rule), so it does not wait either, even while other
/// tasks of the runtime queue for the group's only slot.
#[test]
fn a_nested_sync_call_on_a_current_thread_runtime_runs_under_its_parents_slot() {
    let _cfg = config_lock();
    within(DEADLINE, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let tasks: Vec<_> = (0..4u32)
                .map(|i| tokio::spawn(current_nested_parent(i)))
                .collect();
            for (i, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.expect("no panic"), i as u32 + 1);
            }
        });
    });
    assert_eq!(CurrentNested::POOL.stats().completed, 8);
}

// ---------------------------------------------------------------------------
// Weights when configuration changes a group's order
// ---------------------------------------------------------------------------

#[pooled::group(order = "priority", size = 1)]
struct Reordered;

static REORDERED_LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[pooled::pooled(group = Reordered, weight = 10)]
async fn reordered_batch() -> Result<(), Rejected> {
    REORDERED_LOG.lock().unwrap().push("batch");
    Ok(())
}

#[pooled::pooled(group = Reordered, weight = 0)]
async fn reordered_urgent() -> Result<(), Rejected> {
    REORDERED_LOG.lock().unwrap().push("urgent");
    Ok(())
}

/// README, "Weights": "FIFO and LIFO pools accept and ignore them, so a call
/// site keeps working when configuration changes a group's order"; README,
/// "Configuration": `order` is a file key (taking effect at a group's start).
/// A priority group whose file table says `order = "fifo"` before its first
/// use runs its weighted functions in arrival order: the batch call queued
/// first goes first, ahead of the urgent one.
#[test]
fn weighted_functions_keep_working_when_configuration_makes_their_group_fifo() {
    let _cfg = config_lock();
    config::clear();
    assert!(!Reordered::POOL.is_started());
    let text = "[groups.\"acceptance_round17::Reordered\"]\norder = \"fifo\"\n";
    let report = config::load_str("o.toml", text).unwrap();
    assert!(
        report
            .to_string()
            .contains("order priority -> fifo (at first use)"),
        "{report}"
    );
    common::multi_thread().block_on(async {
        let permit = Reordered::POOL.try_acquire(0).unwrap();
        let batch = tokio::spawn(reordered_batch());
        until_async("the batch call queues", || {
            Reordered::POOL.stats().waiting == 1
        })
        .await;
        let urgent = tokio::spawn(reordered_urgent());
        until_async("the urgent call queues", || {
            Reordered::POOL.stats().waiting == 2
        })
        .await;
        drop(permit);
        batch.await.unwrap().unwrap();
        urgent.await.unwrap().unwrap();
    });
    assert_eq!(*REORDERED_LOG.lock().unwrap(), ["batch", "urgent"]);
    assert_eq!(Reordered::POOL.settings().order, pooled::Order::Fifo);
    config::clear();
}
