//! Hostile acceptance tests of the attribute, round 10: attribute options
//! overridden by a configuration file (kind flipped both ways, waiting bound,
//! bounds reloaded live), counted from outside on async fns, sync fns from
//! many threads and fns returning `impl Future`.
#![cfg(feature = "config")]

mod common;
use common::Meter;
use pooled::{config, Kind, Rejected};
use std::future::Future;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(15);

/// Configuration is process-wide: the tests here take turns with it.
fn config_turn() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    config::clear();
    guard
}

/// Tokens handed out to blocked bodies, one each.
struct Tokens(Mutex<usize>, Condvar);

impl Tokens {
    const fn new() -> Tokens {
        Tokens(Mutex::new(0), Condvar::new())
    }
    fn give(&self, n: usize) {
        *self.0.lock().unwrap() += n;
        self.1.notify_all();
    }
    fn take(&self) {
        let mut left = self.0.lock().unwrap();
        while *left == 0 {
            left = self.1.wait(left).unwrap();
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

fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(BOUND * 2) {
        Ok(Ok(out)) => out,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("hung"),
    }
}

static SYNC_METER: Meter = Meter::new();
static SYNC_TOKENS: Tokens = Tokens::new();

#[pooled::pooled(size = 1, max_waiting = 100)]
fn sync_held(n: u32) -> Result<u32, Rejected> {
    let _inside = SYNC_METER.enter();
    SYNC_TOKENS.take();
    Ok(n)
}

/// A sync fn's declared size and waiting bound, overridden by a file before
/// its first use and reloaded while its calls run and wait: the limit and
/// the bound in force are what callers from many threads meet.
#[test]
fn a_sync_fns_size_and_waiting_bound_come_from_the_file_and_follow_reloads() {
    let _serial = config_turn();
    within(|| {
        let file = "[groups.\"adversarial_round10::sync_held\"]\nsize = 3\nmax_waiting = 2\n";
        config::load_str("a.toml", file).unwrap();
        let callers: Vec<_> = (0..5u32)
            .map(|n| std::thread::spawn(move || sync_held(n)))
            .collect();
        wait_until("three running, two waiting", || {
            let s = SYNC_HELD_POOL.stats();
            s.running == 3 && s.waiting == 2
        });
        assert_eq!(SYNC_METER.now(), 3);
        assert_eq!(sync_held(99), Err(Rejected::Full), "the file's bound");
        // Lower the size to 1 and lift the bound: nobody admitted until
        // the running calls are below 1; a newcomer waits.
        let file = "[groups.\"adversarial_round10::sync_held\"]\nsize = 1\n";
        config::load_str("a.toml", file).unwrap();
        assert_eq!(SYNC_HELD_POOL.size(), 1);
        let late = std::thread::spawn(|| sync_held(5));
        wait_until("the newcomer waiting", || {
            SYNC_HELD_POOL.stats().waiting == 3
        });
        SYNC_TOKENS.give(2);
        wait_until("two ended", || SYNC_HELD_POOL.stats().completed == 2);
        assert_eq!(SYNC_METER.now(), 1, "none admitted over the lowered limit");
        assert_eq!(SYNC_HELD_POOL.stats().waiting, 3);
        SYNC_TOKENS.give(4);
        let mut results: Vec<u32> = callers
            .into_iter()
            .chain([late])
            .map(|c| c.join().unwrap().unwrap())
            .collect();
        results.sort_unstable();
        assert_eq!(results, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(SYNC_METER.peak(), 3);
        let stats = SYNC_HELD_POOL.stats();
        assert_eq!(
            (
                stats.completed,
                stats.rejected_for(Rejected::Full),
                stats.submitted()
            ),
            (6, 1, 7)
        );
        config::clear();
    });
}

static ADAPTIVE_METER: Meter = Meter::new();

#[derive(Debug, PartialEq)]
struct Overloaded;

impl From<Rejected> for Overloaded {
    fn from(_: Rejected) -> Self {
        Overloaded
    }
}

fn is_overloaded(_: &Overloaded) -> bool {
    true
}

#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    min = 1,
    max = 8,
    adaptive_window_samples = 1,
    overload = is_overloaded
)]
async fn declared_adaptive(fail: bool) -> Result<(), Overloaded> {
    let _inside = ADAPTIVE_METER.enter();
    tokio::task::yield_now().await;
    if fail {
        Err(Overloaded)
    } else {
        Ok(())
    }
}

static RETURNED_METER: Meter = Meter::new();

#[pooled::pooled(size = 2)]
fn returns_future(n: u64) -> impl Future<Output = Result<u64, Rejected>> + Send {
    async move {
        let _inside = RETURNED_METER.enter();
        tokio::task::yield_now().await;
        Ok(n)
    }
}

/// A group declared adaptive that the file makes fixed, and one declared
/// fixed that the file makes autoscaled with bounds (then reloaded lower
/// while its calls run): each starts as the file says, and many concurrent
/// calls never exceed the limit in force, counted from outside.
#[test]
fn a_file_flips_declared_kinds_and_the_running_limits_hold() {
    let _serial = config_turn();
    let file = "[groups.\"adversarial_round10::declared_adaptive\"]\nkind = \"fixed\"\nsize = 2\n\
                [groups.\"adversarial_round10::returns_future\"]\nkind = \"autoscale\"\nmin = 1\nmax = 3\nsize = 3\n";
    config::load_str("k.toml", file).unwrap();
    let s = DECLARED_ADAPTIVE_POOL.settings();
    assert_eq!(
        (s.kind, s.size, s.min, s.max),
        (Kind::Fixed, Some(2), None, None)
    );
    assert!(matches!(s.policy, pooled::ScalePolicy::QueueDepth), "{s:?}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let calls: Vec<_> = (0..40)
            .map(|i| tokio::spawn(declared_adaptive(i % 3 == 0)))
            .collect();
        let returned: Vec<_> = (0..40).map(|i| tokio::spawn(returns_future(i))).collect();
        tokio::time::timeout(BOUND, async {
            for call in calls {
                let _ = call.await.unwrap();
            }
            for (i, call) in returned.into_iter().enumerate() {
                assert_eq!(call.await.unwrap(), Ok(i as u64));
            }
        })
        .await
        .expect("calls finish");
    });
    assert!(ADAPTIVE_METER.peak() <= 2, "peak {}", ADAPTIVE_METER.peak());
    assert!(RETURNED_METER.peak() <= 3, "peak {}", RETURNED_METER.peak());
    assert_eq!(DECLARED_ADAPTIVE_POOL.pool().kind(), Kind::Fixed);
    assert_eq!(RETURNS_FUTURE_POOL.pool().kind(), Kind::Autoscale);
    assert_eq!(RETURNS_FUTURE_POOL.pool().bounds(), (1, 3));
    // The handle's `scale` stays within the file's bounds; a reload moves
    // them live.
    assert_eq!(RETURNS_FUTURE_POOL.scale(10), 3);
    let file = "[groups.\"adversarial_round10::returns_future\"]\nkind = \"autoscale\"\nmin = 1\nmax = 2\nsize = 2\n";
    config::load_str("k.toml", file).unwrap();
    assert_eq!(RETURNS_FUTURE_POOL.pool().bounds(), (1, 2));
    assert_eq!(RETURNS_FUTURE_POOL.size(), 2);
    assert_eq!(RETURNS_FUTURE_POOL.scale(10), 2);
    // A reload whose last group fails leaves the first group's change out.
    let err = config::load_str(
        "k.toml",
        "[groups.\"adversarial_round10::returns_future\"]\nkind = \"autoscale\"\nmin = 1\nmax = 3\n\
         [groups.\"adversarial_round10::declared_adaptive\"]\nkind = \"fixed\"\nsize = 0\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string().split(": ").next(),
        Some("k.toml:7:8"),
        "{err}"
    );
    assert_eq!(
        RETURNS_FUTURE_POOL.pool().bounds(),
        (1, 2),
        "all or nothing"
    );
    config::clear();
    assert_eq!(
        RETURNS_FUTURE_POOL.pool().kind(),
        Kind::Autoscale,
        "kind waits for a restart"
    );
    for pool in [&DECLARED_ADAPTIVE_POOL, &RETURNS_FUTURE_POOL] {
        let s = pool.stats();
        assert_eq!(
            s.submitted(),
            s.completed + s.cancelled + s.rejected_total() + s.running as u64 + s.waiting as u64
        );
    }
}

#[cfg(all(feature = "test-util", feature = "rayon"))]
mod isolated_rayon {
    use std::time::Duration;

    #[pooled::group(size = 1, executor = "rayon")]
    pub struct Cpu;

    #[pooled::pooled(group = Cpu, blocking)]
    fn outer() -> u32 {
        inner() + 1
    }

    #[pooled::pooled(group = Cpu)]
    fn inner() -> u32 {
        6
    }

    /// A test that isolated a group whose blocking work runs on rayon: the
    /// calls that work makes into its group nest under its slot in the
    /// test's instance. The shared pool, which another test paused, never
    /// sees them (a never-rejecting call there would wait for its resume).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_nested_in_rayon_work_stay_in_the_tests_instance() {
        std::thread::spawn(|| Cpu::POOL.pause()).join().unwrap();
        let mine = Cpu::POOL.isolate();
        let answer = tokio::time::timeout(Duration::from_secs(10), outer())
            .await
            .expect("the nested call stayed in the test's instance");
        assert_eq!(answer, 7);
        let stats = mine.pool().stats();
        assert_eq!((stats.completed, stats.submitted()), (2, 2), "{stats:?}");
        let shared = std::thread::spawn(|| Cpu::POOL.stats()).join().unwrap();
        assert_eq!(
            shared.submitted(),
            0,
            "the shared pool saw none: {shared:?}"
        );
        std::thread::spawn(|| Cpu::POOL.resume()).join().unwrap();
    }
}
