//! Acceptance round 25 (facade): `#[pooled]` functions and groups under
//! application-wide configuration, reloaded live while their calls wait and
//! run; concurrency counted from outside.
#![cfg(feature = "config")]

mod common;

use common::{config_turn, vars, within, Meter};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(20);

#[track_caller]
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WATCHDOG, "hung waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------
// A declared group, reloaded while its sync callers wait and run: "growing
// admits waiters, shrinking lets running calls finish".
// ---------------------------------------------------------------------------

#[pooled::group(size = 1)]
struct Reloaded;

static RELOADED_METER: Meter = Meter::new();
static RELOADED_LATE: Meter = Meter::new();
static RELOADED_GATE: AtomicBool = AtomicBool::new(false);
static RELOADED_SHRUNK: AtomicBool = AtomicBool::new(false);

#[pooled::pooled(group = Reloaded)]
fn reloaded_sync(n: u32) -> u32 {
    let _in = RELOADED_METER.enter();
    let _late = RELOADED_SHRUNK.load(SeqCst).then(|| RELOADED_LATE.enter());
    while !RELOADED_GATE.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    n
}

#[pooled::pooled(group = Reloaded)]
async fn reloaded_async(n: u32) -> u32 {
    let _in = RELOADED_METER.enter();
    let _late = RELOADED_SHRUNK.load(SeqCst).then(|| RELOADED_LATE.enter());
    while !RELOADED_GATE.load(SeqCst) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    n
}

#[test]
fn a_reload_grows_a_declared_group_under_waiting_callers_and_shrinks_it_under_running_ones() {
    let _turn = config_turn();
    let name = Reloaded::POOL.name();
    assert_eq!(name, "acceptance_round25::Reloaded");
    within(WATCHDOG, move || {
        let rt = common::multi_thread();
        let mut threads = Vec::new();
        for i in 0..3 {
            threads.push(std::thread::spawn(move || reloaded_sync(i)));
        }
        let tasks: Vec<_> = (3..6).map(|i| rt.spawn(reloaded_async(i))).collect();
        until("one running, five waiting", || {
            RELOADED_METER.now() == 1 && Reloaded::POOL.stats().waiting == 5
        });
        let report =
            pooled::config::load_str("r.toml", &format!("[groups.\"{name}\"]\nsize = 3\n"))
                .unwrap();
        assert!(!report.is_empty());
        until("the reload admitted two waiters", || {
            RELOADED_METER.now() == 3
        });
        assert_eq!(Reloaded::POOL.stats().waiting, 3);
        pooled::config::load_str("r.toml", &format!("[groups.\"{name}\"]\nsize = 1\n")).unwrap();
        assert_eq!(Reloaded::POOL.size(), 1);
        RELOADED_SHRUNK.store(true, SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(RELOADED_METER.now(), 3, "running calls are not interrupted");
        RELOADED_GATE.store(true, SeqCst);
        let mut got: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for t in tasks {
            got.push(rt.block_on(t).unwrap());
        }
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
    });
    assert_eq!(RELOADED_METER.peak(), 3);
    assert_eq!(RELOADED_LATE.peak(), 1, "after the shrink, one at a time");
    assert_eq!(RELOADED_LATE.done(), 3);
    pooled::config::clear();
}

// ---------------------------------------------------------------------------
// Names on the configuration surfaces: a function's own pool is
// `<module path>::<fn>`, a method's leaves out its type; variables mangle
// `::` to `__`.
// ---------------------------------------------------------------------------

#[pooled::pooled(size = 2)]
fn named_free(n: u32) -> u32 {
    n
}

struct Client;

impl Client {
    #[pooled::pooled(size = 2)]
    fn lookup(&self, n: u32) -> u32 {
        n
    }
}

#[test]
fn a_functions_and_a_methods_pool_are_configured_by_their_documented_names() {
    let _turn = config_turn();
    assert_eq!(NAMED_FREE_POOL.name(), "acceptance_round25::named_free");
    assert_eq!(Client::LOOKUP_POOL.name(), "acceptance_round25::lookup");
    pooled::config::load_str(
        "n.toml",
        "[groups.\"acceptance_round25::named_free\"]\nsize = 4\n\
         [groups.\"acceptance_round25::lookup\"]\nsize = 5\n",
    )
    .unwrap();
    assert_eq!(NAMED_FREE_POOL.settings().size, Some(4));
    assert_eq!(Client::LOOKUP_POOL.settings().size, Some(5));
    pooled::config::load_env_from(vars(&[
        ("POOLED_ACCEPTANCE_ROUND25__NAMED_FREE_SIZE", "6"),
        ("POOLED_ACCEPTANCE_ROUND25__LOOKUP_MAX_WAITING", "none"),
    ]))
    .unwrap();
    assert_eq!(NAMED_FREE_POOL.settings().size, Some(6));
    assert_eq!(named_free(7), 7);
    assert_eq!(Client.lookup(8), 8);
    assert_eq!(NAMED_FREE_POOL.size(), 6);
    assert_eq!(Client::LOOKUP_POOL.size(), 5);
    // A reload's report names the group.
    let report = pooled::config::load_env_from(vars(&[])).unwrap();
    let change = report
        .changes
        .iter()
        .find(|c| c.group == "acceptance_round25::named_free" && c.setting == "size")
        .expect("the size change");
    assert_eq!((change.from.as_str(), change.to.as_str()), ("6", "4"));
    assert_eq!(NAMED_FREE_POOL.size(), 4);
    pooled::config::clear();
}

// ---------------------------------------------------------------------------
// Bounds loaded at run time and the return type: a `Result` function is
// turned away, any other waits (no bound, no timeout), as the rejection
// table says.
// ---------------------------------------------------------------------------

#[pooled::group(size = 1)]
struct Bounded;

#[pooled::pooled(group = Bounded)]
fn bounded_fallible(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

#[pooled::pooled(group = Bounded)]
fn bounded_plain(n: u32) -> u32 {
    n
}

#[pooled::pooled(group = Bounded)]
async fn bounded_async_plain(n: u32) -> u32 {
    n
}

#[pooled::pooled(group = Bounded, wait)]
async fn bounded_async_wait(n: u32) -> Result<u32, pooled::Rejected> {
    Ok(n)
}

#[test]
fn loaded_bounds_turn_away_result_functions_and_never_the_others() {
    let _turn = config_turn();
    let name = Bounded::POOL.name();
    pooled::config::load_str(
        "b.toml",
        &format!("[groups.\"{name}\"]\nadmission_timeout = \"150ms\"\n"),
    )
    .unwrap();
    let held = Bounded::POOL.pool().try_acquire_owned(0).unwrap();
    let started = Instant::now();
    let err = bounded_fallible(1).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(100), "{err}");
    pooled::config::load_str(
        "b.toml",
        &format!("[groups.\"{name}\"]\nadmission_timeout = \"150ms\"\nmax_waiting = 0\n"),
    )
    .unwrap();
    assert!(bounded_fallible(2).is_err(), "full at once");
    let (tx, rx) = mpsc::channel();
    let sync_tx = tx.clone();
    let sync_waiter = std::thread::spawn(move || {
        let _ = sync_tx.send(bounded_plain(3));
    });
    let rt = common::multi_thread();
    let tx2 = tx.clone();
    rt.spawn(async move {
        let _ = tx2.send(bounded_async_plain(4).await);
    });
    rt.spawn(async move {
        let _ = tx.send(bounded_async_wait(5).await.unwrap());
    });
    until("three never-rejecting calls wait", || {
        Bounded::POOL.stats().waiting == 3
    });
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        rx.try_recv().is_err(),
        "a never-rejecting call was turned away"
    );
    drop(held);
    let mut got: Vec<u32> = (0..3)
        .map(|_| rx.recv_timeout(WATCHDOG).expect("hung"))
        .collect();
    got.sort();
    assert_eq!(got, vec![3, 4, 5]);
    sync_waiter.join().unwrap();
    let stats = Bounded::POOL.stats();
    assert_eq!(stats.rejected_for(pooled::Rejected::TimedOut), 1);
    assert_eq!(stats.rejected_for(pooled::Rejected::Full), 1);
    pooled::config::clear();
}

// ---------------------------------------------------------------------------
// "every parameter bound to a name (`self` too) goes into the call whole,
// used or not, and is dropped there when the body ends, holding the slot"
// (`pool-macros/src/lib.rs`, "What the attribute expands to").
// ---------------------------------------------------------------------------

#[pooled::group(size = 1)]
struct Probed;

/// Records, as it is dropped, whether a slot of `Probed` is held.
struct Probe(
    &'static str,
    std::sync::Arc<std::sync::Mutex<Vec<(&'static str, usize)>>>,
);

impl Drop for Probe {
    fn drop(&mut self) {
        let running = Probed::POOL.stats().running;
        self.1.lock().unwrap().push((self.0, running));
    }
}

#[pooled::pooled(group = Probed)]
fn probed_sync(_unused: Probe, mut used: Vec<u32>) -> usize {
    used.push(1);
    used.len()
}

#[pooled::pooled(group = Probed)]
async fn probed_async(_unused: Probe, label: &str) -> usize {
    label.len()
}

#[pooled::pooled(group = Probed, blocking)]
fn probed_blocking(_unused: Probe) -> u8 {
    7
}

struct Holder(Probe);

impl Holder {
    #[pooled::pooled(group = Probed)]
    fn consume(self) -> u8 {
        1
    }

    #[pooled::pooled(group = Probed)]
    async fn consume_async(self) -> u8 {
        2
    }

    #[pooled::pooled(group = Probed)]
    async fn name_of<'a>(&'a self, names: &'a [String]) -> &'a str {
        &names[usize::from(self.0 .0.len() > 100)]
    }
}

#[test]
fn named_parameters_and_self_are_dropped_inside_the_call_holding_the_slot() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let probe = |label| Probe(label, seen.clone());
    assert_eq!(probed_sync(probe("sync"), vec![1, 2]), 3);
    let rt = common::multi_thread();
    assert_eq!(rt.block_on(probed_async(probe("async"), "abcd")), 4);
    assert_eq!(rt.block_on(probed_blocking(probe("blocking"))), 7);
    assert_eq!(Holder(probe("self")).consume(), 1);
    assert_eq!(rt.block_on(Holder(probe("async self")).consume_async()), 2);
    let names = vec!["first".to_owned(), "second".to_owned()];
    let holder = Holder(probe("borrowed"));
    assert_eq!(rt.block_on(holder.name_of(&names)), "first");
    drop(holder);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("sync", 1),
            ("async", 1),
            ("blocking", 1),
            ("self", 1),
            ("async self", 1),
            ("borrowed", 0),
        ],
        "(label, slots held as it was dropped)"
    );
    assert_eq!(Probed::POOL.stats().running, 0);
}
