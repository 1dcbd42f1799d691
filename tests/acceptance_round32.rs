//! Acceptance tests of the facade, round 32: `#[pooled]` on the call paths
//! that cross forms inside one group — a sync, a `blocking` and a
//! future-returning function nested in an async call's work, an async call
//! driven by `block_on` or by a runtime's tasks inside a sync call — each
//! counted from outside (a `Meter` around every piece of work: the server
//! behind a pool of N never sees more than N); a generic `impl`'s one pool;
//! weights computed from `&self`; a declared group's handle pausing,
//! resuming and resizing every function of the group under load; a
//! returned future dropped unpolled; and the configuration of attribute
//! groups named with `name = ".."` from `POOLED_CONFIG` and the
//! environment, reloaded while calls run (in child processes of their own).
//! Each test's doc comment quotes its promise; waits that must succeed are
//! bounded only to turn a hang into a failure.
#![cfg(not(miri))]

mod common;

use common::{within, Meter};
use pooled::Rejected;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bound that only turns a hang into a failure.
const BOUND: Duration = Duration::from_secs(60);

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[derive(Debug, PartialEq)]
struct AppErr(Rejected);

impl From<Rejected> for AppErr {
    fn from(rejected: Rejected) -> Self {
        AppErr(rejected)
    }
}

// ---------------------------------------------------------------------------
// A sync function nested in an async call of its group.

#[pooled::group(size = 1)]
struct R32Nest;

static NEST: Meter = Meter::new();

#[pooled::pooled(group = R32Nest)]
fn r32_nest_leaf(i: u32) -> u32 {
    let _in = NEST.enter();
    i + 1
}

#[pooled::pooled(group = R32Nest)]
async fn r32_nest_outer(i: u32) -> u32 {
    {
        let _in = NEST.enter();
        tokio::task::yield_now().await;
    }
    r32_nest_leaf(i)
}

/// README, "Reentrancy rule": a call "made on the thread of sync or blocking
/// work" or "polled within the parent's poll" "may run under its parent's
/// slot instead of waiting for a second one", and "a call that finds a free
/// slot never waits, so it works anywhere": a sync `#[pooled]` function called
/// from the body of an async one of the same group of 1 runs under the
/// parent's slot, even on a current-thread runtime (where a sync call that
/// must wait panics), while other callers queue; the work seen from outside
/// never exceeds 1.
#[test]
fn a_sync_fn_nested_in_an_async_call_of_its_group_runs_under_the_parents_slot() {
    within(BOUND, || {
        current_thread().block_on(async {
            let calls = (0..6).map(r32_nest_outer);
            let out = futures::future::join_all(calls).await;
            assert_eq!(out, (1..=6).collect::<Vec<_>>());
        });
        assert_eq!(
            NEST.peak(),
            1,
            "the group of 1 ran more than one piece of work"
        );
        assert_eq!(NEST.done(), 12);
        let stats = R32Nest::POOL.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0));
    });
}

// ---------------------------------------------------------------------------
// A blocking and a future-returning function nested in an async call.

#[pooled::group(size = 1)]
struct R32Mixed;

static MIXED: Meter = Meter::new();

#[pooled::pooled(group = R32Mixed, blocking)]
fn r32_mixed_blocking(i: u64) -> u64 {
    let _in = MIXED.enter();
    std::thread::sleep(Duration::from_millis(2));
    i * 10
}

#[pooled::pooled(group = R32Mixed)]
fn r32_mixed_future(i: u64) -> impl Future<Output = u64> + Send {
    async move {
        let _in = MIXED.enter();
        tokio::task::yield_now().await;
        i * 100
    }
}

#[pooled::pooled(group = R32Mixed)]
async fn r32_mixed_outer(i: u64) -> u64 {
    {
        let _in = MIXED.enter();
        tokio::task::yield_now().await;
    }
    let a = r32_mixed_blocking(i).await;
    let b = r32_mixed_future(i).await;
    i + a + b
}

/// README, "Reentrancy rule" (a nested call "polled within the parent's
/// poll — awaited ..." runs under its parent's slot) with the attribute's
/// `blocking` form (a job "carries its slot to the executor thread") and a
/// sync function returning a future ("holds the slot until the built
/// future completes"), all in one group of 1, from tasks on a multi-thread
/// runtime: no deadlock, and at most one piece of work at a time.
#[test]
fn blocking_and_returned_futures_nested_in_an_async_call_share_its_slot() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let out = rt.block_on(async {
            let tasks: Vec<_> = (1..=6).map(|i| tokio::spawn(r32_mixed_outer(i))).collect();
            let mut out = Vec::new();
            for task in tasks {
                out.push(task.await.unwrap());
            }
            out
        });
        assert_eq!(out, (1..=6).map(|i| i * 111).collect::<Vec<_>>());
        assert_eq!(
            MIXED.peak(),
            1,
            "the group of 1 ran more than one piece of work"
        );
        assert_eq!(MIXED.done(), 18);
    });
}

// ---------------------------------------------------------------------------
// Async calls driven inside a sync call.

#[pooled::group(size = 1)]
struct R32Drive;

static DRIVE: Meter = Meter::new();

#[pooled::pooled(group = R32Drive)]
async fn r32_drive_inner(i: u32) -> u32 {
    let _in = DRIVE.enter();
    tokio::task::yield_now().await;
    i * 2
}

#[pooled::pooled(group = R32Drive)]
fn r32_drive_by_block_on(i: u32) -> u32 {
    {
        let _in = DRIVE.enter();
    }
    futures::executor::block_on(r32_drive_inner(i))
}

#[pooled::pooled(group = R32Drive)]
fn r32_drive_by_runtime(i: u32) -> u32 {
    {
        let _in = DRIVE.enter();
    }
    let rt = current_thread();
    rt.block_on(async move {
        let a = tokio::spawn(r32_drive_inner(i));
        let b = tokio::spawn(r32_drive_inner(i + 1));
        a.await.unwrap() + b.await.unwrap()
    })
}

/// README, "Reentrancy rule": a nested call is one "polled within the
/// parent's poll — awaited, joined, or a task of a runtime driven inside a
/// sync call — or made on the thread of sync ... work"; "only one nested
/// call at a time uses a parent's slot; the others wait ... for that slot to
/// come back". Sync `#[pooled]` functions of a group of 1 drive async calls of
/// the same group with `block_on` and with a current-thread runtime's tasks
/// (two at once), from several plain threads: none deadlocks, and the work
/// counted from outside never exceeds 1.
#[test]
fn async_calls_driven_inside_a_sync_call_run_under_its_slot_one_at_a_time() {
    within(BOUND, || {
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut sum = 0;
                    for i in 0..3 {
                        sum += r32_drive_by_block_on(t * 10 + i);
                        sum += r32_drive_by_runtime(t * 10 + i);
                    }
                    sum
                })
            })
            .collect();
        for (t, thread) in threads.into_iter().enumerate() {
            let t = t as u32;
            let expected: u32 = (0..3)
                .map(|i| 2 * (t * 10 + i) + 2 * (2 * (t * 10 + i) + 1))
                .sum();
            assert_eq!(thread.join().unwrap(), expected);
        }
        assert_eq!(
            DRIVE.peak(),
            1,
            "the group of 1 ran more than one piece of work"
        );
        assert_eq!(DRIVE.done(), 4 * 3 * 5);
    });
}

// ---------------------------------------------------------------------------
// A call spawned from inside a call.

#[pooled::group(size = 1)]
struct R32Spawn;

static SPAWN: Meter = Meter::new();

#[pooled::pooled(group = R32Spawn)]
async fn r32_spawned_inner(i: u32) -> u32 {
    let _in = SPAWN.enter();
    tokio::task::yield_now().await;
    i
}

// Returns the spawned call's handle, to be awaited after this call ends.
#[allow(clippy::async_yields_async)]
#[pooled::pooled(group = R32Spawn)]
async fn r32_spawning_outer(i: u32) -> tokio::task::JoinHandle<u32> {
    let _in = SPAWN.enter();
    let inner = tokio::spawn(r32_spawned_inner(i));
    // The spawned call is not nested: it queues for a slot of its own.
    let start = Instant::now();
    while R32Spawn::POOL.stats().waiting < 1 {
        assert!(start.elapsed() < BOUND, "the spawned call never queued");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    inner
}

/// README, "Reentrancy rule": "work spawned through the pool (`Pool::spawn`)
/// is an independent call with a slot of its own, as is a task spawned onto
/// another thread (`tokio::spawn`)". A `#[pooled]` call that `tokio::spawn`s
/// another call of its group of 1 (on a multi-thread and on a current-thread
/// runtime) sees it queue (it does not run under the
/// parent's slot), and the work counted from outside never exceeds 1.
#[test]
fn a_call_spawned_from_inside_a_call_waits_for_a_slot_of_its_own() {
    within(BOUND, || {
        for rt in [common::multi_thread(), current_thread()] {
            rt.block_on(async {
                for i in 0..4 {
                    let inner = r32_spawning_outer(i).await;
                    assert_eq!(inner.await.unwrap(), i);
                }
            });
        }
        assert_eq!(SPAWN.peak(), 1, "a spawned call ran beside its parent");
        assert_eq!(SPAWN.done(), 16);
    });
}

// ---------------------------------------------------------------------------
// A generic impl's method.

struct R32Holder<T>(T);

static HOLDER: Meter = Meter::new();

impl<T: std::fmt::Display + Send + Sync> R32Holder<T> {
    #[pooled::pooled(size = 1)]
    async fn show(&self) -> String {
        let _in = HOLDER.enter();
        tokio::task::yield_now().await;
        self.0.to_string()
    }
}

/// `#[pooled]` docs, "The handle": "A generic function, or a method of a
/// generic `impl`, has one pool for all its instantiations", reachable as
/// `Type::FETCH_POOL`: both instantiations name the same group, and their
/// calls together never exceed its 1 slot.
#[test]
fn a_generic_impls_method_has_one_pool_for_every_instantiation() {
    assert!(std::ptr::eq(
        R32Holder::<u8>::SHOW_POOL,
        R32Holder::<String>::SHOW_POOL
    ));
    assert!(R32Holder::<u8>::SHOW_POOL.name().ends_with("::show"));
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let numbers: Vec<_> = (0..8u8)
                .map(|i| tokio::spawn(async move { R32Holder(i).show().await }))
                .collect();
            let words: Vec<_> = (0..8)
                .map(|i| tokio::spawn(async move { R32Holder(format!("w{i}")).show().await }))
                .collect();
            for (i, n) in numbers.into_iter().enumerate() {
                assert_eq!(n.await.unwrap(), i.to_string());
            }
            for (i, w) in words.into_iter().enumerate() {
                assert_eq!(w.await.unwrap(), format!("w{i}"));
            }
        });
        assert_eq!(HOLDER.peak(), 1);
        assert_eq!(R32Holder::<u8>::SHOW_POOL.stats().completed, 16);
    });
}

// ---------------------------------------------------------------------------
// A weight computed from `&self`.

#[pooled::group(order = "priority", size = 1)]
struct R32Ranked;

struct R32Job {
    rank: i64,
}

static RANK_ORDER: Mutex<Vec<i64>> = Mutex::new(Vec::new());

impl R32Job {
    #[pooled::pooled(group = R32Ranked, weight = self.rank * 2)]
    async fn run(&self) -> i64 {
        RANK_ORDER.lock().unwrap().push(self.rank);
        self.rank
    }
}

#[pooled::pooled(group = R32Ranked, weight = -1000)]
async fn r32_ranked_holder(gate: tokio::sync::oneshot::Receiver<()>) {
    let _ = gate.await;
}

/// `#[pooled]` docs, "Weights": "`weight = <expression>`: any `i64`
/// expression over the arguments, evaluated before the call waits"; "smaller
/// first, arrival order among equal weights". Methods whose weight is
/// computed from `&self` queue behind a held slot and run by that weight.
#[test]
fn a_weight_computed_from_self_orders_the_waiting_calls() {
    within(BOUND, || {
        let rt = current_thread();
        rt.block_on(async {
            let (open, gate) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(r32_ranked_holder(gate));
            while R32Ranked::POOL.stats().running < 1 {
                tokio::task::yield_now().await;
            }
            let ranks = [5i64, -3, 9, 0, -3, 2, 7];
            let mut tasks = Vec::new();
            for (n, &rank) in ranks.iter().enumerate() {
                tasks.push(tokio::spawn(async move { R32Job { rank }.run().await }));
                while R32Ranked::POOL.stats().waiting < n + 1 {
                    tokio::task::yield_now().await;
                }
            }
            open.send(()).unwrap();
            holder.await.unwrap();
            for task in tasks {
                task.await.unwrap();
            }
            let mut sorted = ranks.to_vec();
            sorted.sort();
            assert_eq!(*RANK_ORDER.lock().unwrap(), sorted);
        });
    });
}

// ---------------------------------------------------------------------------
// A declared group's handle.

#[pooled::group(size = 1)]
struct R32Handled;

static HANDLED: Meter = Meter::new();
static HANDLED_GO: AtomicBool = AtomicBool::new(false);
static HANDLED_AT_ENTRY: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static HANDLED_SHRUNK: AtomicBool = AtomicBool::new(false);

#[pooled::pooled(group = R32Handled)]
fn r32_handled_work() -> usize {
    let inside = HANDLED.enter();
    if HANDLED_SHRUNK.load(SeqCst) {
        HANDLED_AT_ENTRY.lock().unwrap().push(HANDLED.now());
    }
    while !HANDLED_GO.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(inside);
    1
}

#[pooled::pooled(group = R32Handled)]
fn r32_handled_checked() -> Result<u32, AppErr> {
    Ok(7)
}

#[pooled::pooled(group = R32Handled)]
async fn r32_handled_async() -> u32 {
    8
}

/// README, "The attribute": group handles offer "scale, resize, pause,
/// resume, is_paused, size, stats"; "Reload applies changed limits ...
/// (growing admits waiters, shrinking lets running calls finish)", and
/// "Limits": "scaling down never interrupts running work, the pool just
/// admits nothing until `running < limit`". On a declared group shared by
/// three functions: `resize` up admits the waiting callers at once (counted
/// from outside), `resize` down lets the running ones finish and admits the
/// next only when the running work is below the new limit; `pause` turns
/// the `Result` function away and makes the others wait until `resume`.
#[test]
fn a_group_handle_resizes_pauses_and_resumes_every_function_of_the_group() {
    within(BOUND, || {
        let threads: Vec<_> = (0..6)
            .map(|_| std::thread::spawn(r32_handled_work))
            .collect();
        wait_until("one running, five waiting", || {
            let s = R32Handled::POOL.stats();
            HANDLED.now() == 1 && s.waiting == 5
        });
        assert_eq!(R32Handled::POOL.resize(3), 3);
        wait_until("growing admits two waiters", || HANDLED.now() == 3);
        assert_eq!(R32Handled::POOL.stats().waiting, 3);
        HANDLED_SHRUNK.store(true, SeqCst);
        assert_eq!(R32Handled::POOL.resize(1), 1);
        assert_eq!(HANDLED.now(), 3, "shrinking interrupts nothing");
        HANDLED_GO.store(true, SeqCst);
        for thread in threads {
            assert_eq!(thread.join().unwrap(), 1);
        }
        let at_entry = HANDLED_AT_ENTRY.lock().unwrap().clone();
        assert_eq!(at_entry, vec![1, 1, 1], "admitted past the shrunk limit");
        assert_eq!(HANDLED.peak(), 3);

        R32Handled::POOL.pause();
        assert!(R32Handled::POOL.is_paused());
        assert_eq!(r32_handled_checked(), Err(AppErr(Rejected::Paused)));
        let rt = current_thread();
        rt.block_on(async {
            let waiting = tokio::spawn(r32_handled_async());
            while R32Handled::POOL.stats().waiting < 1 {
                tokio::task::yield_now().await;
            }
            assert!(!waiting.is_finished());
            R32Handled::POOL.resume();
            assert_eq!(waiting.await.unwrap(), 8);
        });
        assert_eq!(r32_handled_checked(), Ok(7));
        assert_eq!(R32Handled::POOL.size(), 1);
        assert_eq!(R32Handled::POOL.scale(2), 3);
    });
}

// ---------------------------------------------------------------------------
// A returned future dropped unpolled.

static BUILT: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 1)]
fn r32_built(n: u32) -> impl Future<Output = u32> + Send {
    BUILT.fetch_add(1, SeqCst);
    async move { n }
}

/// `#[pooled]` docs, "Functions that return a future": the attribute "runs
/// the body at once, without a slot, to build the future" and the returned
/// future "waits for admission"; README, "Accounting": "A call is submitted
/// when it is first polled". Built futures dropped unpolled run their body
/// (the build) but take no slot and count as no call, even while the pool is
/// paused or its one slot is held.
#[test]
fn a_returned_future_dropped_unpolled_is_no_call() {
    within(BOUND, || {
        let held = R32_BUILT_POOL.try_acquire_owned(0).expect("a free slot");
        R32_BUILT_POOL.pause();
        for n in 0..5 {
            drop(r32_built(n));
        }
        assert_eq!(BUILT.load(SeqCst), 5, "built at once, without a slot");
        let stats = R32_BUILT_POOL.stats();
        assert_eq!((stats.waiting, stats.cancelled), (0, 0), "{stats:?}");
        assert_eq!(
            stats.submitted(),
            1,
            "only the permit was a call: {stats:?}"
        );
        R32_BUILT_POOL.resume();
        drop(held);
        assert_eq!(futures::executor::block_on(r32_built(9)), 9);
        assert_eq!(R32_BUILT_POOL.stats().completed, 2);
    });
}

// ---------------------------------------------------------------------------
// Configuration of named attribute groups, in processes of their own.

static CFG: Meter = Meter::new();
static CFG_GO: AtomicBool = AtomicBool::new(false);

#[pooled::pooled(size = 5, name = "r32.named-api")]
fn r32_named(hold: bool) -> u32 {
    let _in = CFG.enter();
    while hold && !CFG_GO.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    1
}

/// Runs `callers` threads each calling `r32_named(true)` and waits until
/// `running` of them run; returns the threads.
fn named_callers(callers: usize, running: usize) -> Vec<std::thread::JoinHandle<u32>> {
    let threads: Vec<_> = (0..callers)
        .map(|_| std::thread::spawn(|| r32_named(true)))
        .collect();
    wait_until("the callers queue", || {
        CFG.now() == running && R32_NAMED_POOL.stats().waiting == callers - running
    });
    threads
}

fn temp_config(tag: &str, text: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("pooled-accept32-{tag}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// README, "Configuration": "`POOLED_CONFIG=path`, read at first use";
/// "a group's stable name: its module path, or the declared name"; variables
/// upper-case with "other characters `_`"; "Precedence: attribute < file
/// `[defaults]` < file group table < environment". A group declared
/// `size = 5, name = "r32.named-api"`, given `size = 2` by the `[defaults]`
/// and `size = 4` by its table, and `3` by `POOLED_R32_NAMED_API_SIZE`, runs
/// exactly 3 at once from its first call (counted from outside).
#[test]
fn the_environment_beats_the_files_table_for_a_named_attribute_group() {
    assert_eq!(pooled::config::mangle("r32.named-api"), "R32_NAMED_API");
    let path = temp_config(
        "precedence",
        "[defaults]\nsize = 2\n\n[groups.\"r32.named-api\"]\nsize = 4\n",
    );
    common::in_own_process(
        "the_environment_beats_the_files_table_for_a_named_attribute_group",
        &[
            ("POOLED_CONFIG", path.to_str().unwrap()),
            ("POOLED_R32_NAMED_API_SIZE", "3"),
        ],
        || {
            within(BOUND, || {
                assert_eq!(R32_NAMED_POOL.name(), "r32.named-api");
                let threads = named_callers(8, 3);
                assert_eq!(R32_NAMED_POOL.size(), 3);
                CFG_GO.store(true, SeqCst);
                for thread in threads {
                    thread.join().unwrap();
                }
                assert_eq!(
                    CFG.peak(),
                    3,
                    "the environment's size, counted from outside"
                );
            });
        },
    );
    let _ = std::fs::remove_file(path);
}

/// README, "Configuration": "Reload applies changed limits to running pools
/// at once (growing admits waiters, shrinking lets running calls finish) and
/// returns a report of what changed"; `config::load(path)`. With the size a
/// file gave at first use (2), a reload to 4 admits two waiting callers at
/// once; a reload back to 1 interrupts none of the 4 running and admits the
/// rest one at a time (each admitted alone, counted from outside).
#[test]
fn a_reload_grows_and_shrinks_an_attribute_groups_running_pool() {
    let first = temp_config("reload-a", "[groups.\"r32.named-api\"]\nsize = 2\n");
    let grown = temp_config("reload-b", "[groups.\"r32.named-api\"]\nsize = 4\n");
    let shrunk = temp_config("reload-c", "[groups.\"r32.named-api\"]\nsize = 1\n");
    let (grown_s, shrunk_s) = (grown.clone(), shrunk.clone());
    common::in_own_process(
        "a_reload_grows_and_shrinks_an_attribute_groups_running_pool",
        &[("POOLED_CONFIG", first.to_str().unwrap())],
        move || {
            within(BOUND, move || {
                let threads = named_callers(8, 2);
                let report = pooled::config::load(&grown_s).expect("a valid file");
                let change = report
                    .changes
                    .iter()
                    .find(|c| c.group == "r32.named-api" && c.setting == "size")
                    .unwrap_or_else(|| panic!("the size change is reported: {report}"));
                assert_eq!((change.from.as_str(), change.to.as_str()), ("2", "4"));
                assert_eq!(change.effect, pooled::config::Effect::Applied);
                wait_until("growing admits two waiters", || CFG.now() == 4);
                pooled::config::load(&shrunk_s).expect("a valid file");
                assert_eq!(R32_NAMED_POOL.size(), 1);
                assert_eq!(CFG.now(), 4, "shrinking interrupts nothing");
                assert_eq!(R32_NAMED_POOL.stats().waiting, 4);
                let peaks = Arc::new(Mutex::new(Vec::new()));
                let watcher = {
                    let peaks = Arc::clone(&peaks);
                    std::thread::spawn(move || {
                        // Once the first four are gone, at most one runs.
                        let start = Instant::now();
                        while start.elapsed() < BOUND && CFG.done() < 8 {
                            if CFG.done() >= 4 {
                                peaks.lock().unwrap().push(CFG.now());
                            }
                            std::thread::yield_now();
                        }
                    })
                };
                CFG_GO.store(true, SeqCst);
                for thread in threads {
                    thread.join().unwrap();
                }
                watcher.join().unwrap();
                assert_eq!(CFG.done(), 8);
                assert_eq!(CFG.peak(), 4);
                let peaks = peaks.lock().unwrap();
                assert!(
                    peaks.iter().all(|&n| n <= 1),
                    "past the shrunk limit: {:?}",
                    peaks.iter().max()
                );
            });
        },
    );
    for path in [first, grown, shrunk] {
        let _ = std::fs::remove_file(path);
    }
}

static WATCHED: Meter = Meter::new();
static WATCHED_GO: AtomicBool = AtomicBool::new(false);

#[pooled::pooled(size = 1, name = "r32.watched")]
fn r32_watched() -> u32 {
    let _in = WATCHED.enter();
    while !WATCHED_GO.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    1
}

/// README, "Configuration": "`pooled::config::watch(path, every, |outcome|
/// ..)` reloads the file whenever its content changes ... and hands each
/// reload's report or error to the callback; a wrong file changes nothing";
/// "Reload applies changed limits to running pools at once (growing admits
/// waiters ...)". Watching the file of an attribute group whose one slot is
/// held and three callers wait: saving `size = 3` admits two of them at once
/// (counted from outside); saving a wrong value reports its line and column
/// and changes nothing (no further caller is admitted).
#[test]
fn a_watched_file_grows_a_running_attribute_group_and_a_wrong_save_changes_nothing() {
    let path = temp_config("watched", "[groups.\"r32.watched\"]\nsize = 1\n");
    let path_in = path.clone();
    common::in_own_process(
        "a_watched_file_grows_a_running_attribute_group_and_a_wrong_save_changes_nothing",
        &[],
        move || {
            within(BOUND, move || {
                let (tx, rx) = std::sync::mpsc::channel();
                let watch = pooled::config::watch(&path_in, Duration::from_millis(5), move |o| {
                    let _ = tx.send(o.map(|r| r.to_string()));
                })
                .expect("the first load");
                let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(r32_watched)).collect();
                wait_until("one running, three waiting", || {
                    WATCHED.now() == 1 && R32_WATCHED_POOL.stats().waiting == 3
                });
                std::fs::write(&path_in, "[groups.\"r32.watched\"]\nsize = 3\n").unwrap();
                let report = rx.recv_timeout(BOUND).unwrap().expect("a valid file");
                assert!(report.contains("size 1 -> 3 (applied)"), "{report}");
                wait_until("growing admits two waiters", || WATCHED.now() == 3);
                std::fs::write(&path_in, "[groups.\"r32.watched\"]\nsize = \"four\"\n").unwrap();
                let error = rx.recv_timeout(BOUND).unwrap().expect_err("a wrong file");
                let at = error.origin().map(|o| o.to_string()).unwrap_or_default();
                assert_eq!(at, format!("{}:2:8", path_in.display()));
                assert_eq!(R32_WATCHED_POOL.size(), 3, "a wrong file changes nothing");
                assert_eq!((WATCHED.now(), R32_WATCHED_POOL.stats().waiting), (3, 1));
                WATCHED_GO.store(true, SeqCst);
                for thread in threads {
                    thread.join().unwrap();
                }
                drop(watch);
                assert_eq!(WATCHED.peak(), 3);
            });
        },
    );
    let _ = std::fs::remove_file(path);
}

static CEILED: Meter = Meter::new();

#[pooled::pooled(size = 3, name = "r32.ceiled-a")]
fn r32_ceiled_a() -> u32 {
    let _in = CEILED.enter();
    std::thread::sleep(Duration::from_millis(2));
    1
}

#[pooled::pooled(size = 3, name = "r32.ceiled-b")]
async fn r32_ceiled_b() -> u32 {
    let _in = CEILED.enter();
    tokio::time::sleep(Duration::from_millis(2)).await;
    1
}

#[pooled::pooled(size = 3, name = "r32.ceiled-c", blocking)]
fn r32_ceiled_c() -> u32 {
    let _in = CEILED.enter();
    std::thread::sleep(Duration::from_millis(2));
    1
}

/// README, "Configuration": `ceiling = 64  # at most 64 calls running
/// across all groups`, from the file `POOLED_CONFIG` names, "read at first
/// use"; "the application-wide ceiling gating a process's very first group
/// call on every path" (README, "Proof"). Three attribute groups of 3 (sync,
/// async and blocking), whose first calls race from threads released at
/// once, never run more than the file's ceiling of 2 together (counted from
/// outside).
#[test]
fn a_ceiling_in_the_pooled_config_file_gates_the_first_calls_of_every_form() {
    let path = temp_config("ceiling", "ceiling = 2\n\n[defaults]\nmax_waiting = 1000\n");
    common::in_own_process(
        "a_ceiling_in_the_pooled_config_file_gates_the_first_calls_of_every_form",
        &[("POOLED_CONFIG", path.to_str().unwrap())],
        || {
            within(BOUND, || {
                let rt = Arc::new(common::multi_thread());
                let start = Arc::new(std::sync::Barrier::new(9));
                let threads: Vec<_> = (0..9)
                    .map(|t| {
                        let (rt, start) = (Arc::clone(&rt), Arc::clone(&start));
                        std::thread::spawn(move || {
                            start.wait();
                            let mut sum = 0;
                            for _ in 0..4 {
                                sum += match t % 3 {
                                    0 => r32_ceiled_a(),
                                    1 => rt.block_on(r32_ceiled_b()),
                                    _ => rt.block_on(r32_ceiled_c()),
                                };
                            }
                            sum
                        })
                    })
                    .collect();
                for thread in threads {
                    assert_eq!(thread.join().unwrap(), 4);
                }
                assert_eq!(CEILED.done(), 36);
                assert_eq!(CEILED.peak(), 2, "the file's ceiling, counted from outside");
                let ceiling = pooled::ceiling::stats().expect("a ceiling in force");
                assert_eq!(ceiling.size, 2);
            });
        },
    );
    let _ = std::fs::remove_file(path);
}
