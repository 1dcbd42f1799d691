//! Hostile tests, round 17: a group's first use building its pool without
//! any lock while loads, reloads, `clear` and the first read of the
//! environment race it (and user code — a `metrics` recorder — runs in the
//! middle of it); wakers that change between polls (and whose `clone`
//! panics or releases a slot) racing admission, cancellation and the
//! queue-depth autoscaler; permits dropped in odd places. Each test names
//! the promise it attacks (the limit, nothing hangs, nothing is lost, no
//! lock held while user code runs). Concurrency is counted from outside the
//! library; every wait is bounded only to turn a hang into a failure.
//! Tests that install a global recorder or depend on a process's first use
//! run in a child process of their own.
#![cfg(all(
    feature = "tokio",
    feature = "config",
    feature = "metrics",
    feature = "tracing"
))]

mod common;

use common::{assert_accounted, quiet_planned_panics, within, Meter, Task};
use pool_runtime::{config, register_group, AutoscaleTiming, Group, GroupSpec, Kind, Pool};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(20);

// ---- child processes --------------------------------------------------------

// ---- a metrics recorder with a hook -----------------------------------------

/// What the hooked recorder does when a handle of the pool labelled `pool`
/// is registered (once per thread at a time: a hook that builds another
/// pool does not run itself again).
type Hook = Box<dyn Fn(&str) + Send + Sync>;

/// A global recorder that runs `hook` with the pool label of every handle
/// registered, and keeps the `pooled.limit` gauges (moved by differences,
/// as the library moves them).
struct Hooked {
    hook: Hook,
    limits: Mutex<std::collections::BTreeMap<String, Arc<common::Level>>>,
}

thread_local! {
    static IN_HOOK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Hooked {
    fn run_hook(&self, key: &metrics::Key) {
        let Some(pool) = key.labels().find(|l| l.key() == "pool") else {
            return;
        };
        if IN_HOOK.with(|h| h.replace(true)) {
            return;
        }
        (self.hook)(pool.value());
        IN_HOOK.with(|h| h.set(false));
    }

    fn install(hook: impl Fn(&str) + Send + Sync + 'static) -> &'static Hooked {
        let hooked: &'static Hooked = Box::leak(Box::new(Hooked {
            hook: Box::new(hook),
            limits: Mutex::new(Default::default()),
        }));
        metrics::set_global_recorder(hooked).expect("the only recorder");
        hooked
    }

    fn limit_gauge(&self, pool: &str) -> Option<f64> {
        let limits = self.limits.lock().unwrap();
        limits.get(pool).map(|l| *l.0.lock().unwrap())
    }
}

impl metrics::Recorder for Hooked {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        self.run_hook(key);
        metrics::Counter::noop()
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.run_hook(key);
        if key.name() == "pooled.limit" {
            if let Some(pool) = key.labels().find(|l| l.key() == "pool") {
                let level = self
                    .limits
                    .lock()
                    .unwrap()
                    .entry(pool.value().to_owned())
                    .or_default()
                    .clone();
                return metrics::Gauge::from_arc(level);
            }
        }
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.run_hook(key);
        metrics::Histogram::noop()
    }
}

// ---- groups -----------------------------------------------------------------

static FIRST: Group = Group::new(GroupSpec::new("adv17::first").size(4));
static SECOND: Group = Group::new(GroupSpec::new("adv17::second").size(4));
static BUILT: Group = Group::new(GroupSpec::new("adv17::built").size(2));
static REENTERED: Group = Group::new(GroupSpec::new("adv17::reentered").size(2));
register_group!(FIRST);
register_group!(SECOND);
register_group!(BUILT);
register_group!(REENTERED);

macro_rules! racing_groups {
    ($($name:ident = $label:literal),* $(,)?) => {
        $(
            static $name: Group = Group::new(GroupSpec::new($label).size(2));
            register_group!($name);
        )*
        static RACING: &[&Group] = &[$(&$name),*];
    };
}

racing_groups!(
    R0 = "adv17::r0",
    R1 = "adv17::r1",
    R2 = "adv17::r2",
    R3 = "adv17::r3",
    R4 = "adv17::r4",
    R5 = "adv17::r5",
    R6 = "adv17::r6",
    R7 = "adv17::r7",
    R8 = "adv17::r8",
    R9 = "adv17::r9",
    R10 = "adv17::r10",
    R11 = "adv17::r11",
    R12 = "adv17::r12",
    R13 = "adv17::r13",
    R14 = "adv17::r14",
    R15 = "adv17::r15",
    R16 = "adv17::r16",
    R17 = "adv17::r17",
    R18 = "adv17::r18",
    R19 = "adv17::r19",
    R20 = "adv17::r20",
    R21 = "adv17::r21",
    R22 = "adv17::r22",
    R23 = "adv17::r23",
);

/// Bodies of group calls running now across all groups, and the most ever
/// at once (counted outside the library).
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn enter() {
    let n = NOW.fetch_add(1, SeqCst) + 1;
    PEAK.fetch_max(n, SeqCst);
}

fn leave() {
    NOW.fetch_sub(1, SeqCst);
}

/// Waits (bounded) until `flag` is set; whether it was.
fn wait_for(flag: &AtomicBool, limit: Duration) -> bool {
    let start = Instant::now();
    while !flag.load(SeqCst) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

// ---- the ceiling set at the first read of the environment --------------------

static CEILING_BEING_BUILT: AtomicBool = AtomicBool::new(false);
static SECOND_ENTERED: AtomicBool = AtomicBool::new(false);

/// Promise: no more than the ceiling runs at once, from a process's very
/// first call; `first_read`'s docs: "a load cannot come between storing the
/// layers and setting their ceiling, and another thread's first use waits
/// for both". Attack: `POOLED_CEILING=1`; the first call (of `FIRST`)
/// reads the environment, stores the layers, then sets the ceiling, which
/// builds the ceiling's pool and registers its handles with a `metrics`
/// recorder (user code, run with no configuration lock held). While the
/// recorder runs (it waits, bounded, for a sign that another call got in),
/// another thread's first call of `SECOND` finds the layers stored and the
/// ceiling not yet enabled. Catches: that call running ungated, so that
/// the first call, gated once the ceiling is enabled, runs beside it: two
/// group calls at once under a ceiling of 1.
#[test]
fn a_first_use_while_the_first_read_sets_the_ceiling_runs_under_it() {
    crate::common::in_own_process(
        "a_first_use_while_the_first_read_sets_the_ceiling_runs_under_it",
        &[("POOLED_CEILING", "1")],
        || {
            Hooked::install(|pool| {
                if pool == "(ceiling)" && !CEILING_BEING_BUILT.swap(true, SeqCst) {
                    // A slow recorder: it waits a while (for the other
                    // call, if it can get in) before it returns.
                    wait_for(&SECOND_ENTERED, Duration::from_secs(2));
                }
            });
            let second = std::thread::spawn(|| {
                assert!(wait_for(&CEILING_BEING_BUILT, BOUND));
                SECOND.run(|| {
                    enter();
                    SECOND_ENTERED.store(true, SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    leave();
                })
            });
            let first = within(BOUND, || {
                FIRST.run(|| {
                    enter();
                    std::thread::sleep(Duration::from_millis(300));
                    leave();
                })
            });
            assert_eq!(first, Ok(()));
            assert_eq!(second.join().unwrap(), Ok(()));
            assert_eq!(pool_runtime::ceiling::limit(), Some(1));
            assert_eq!(
                PEAK.load(SeqCst),
                1,
                "two group calls ran at once under a ceiling of 1"
            );
        },
    );
}

/// Promise: no more than the ceiling runs at once; nothing hangs. Attack:
/// as above without a recorder: many threads make the first calls of many
/// groups at once, each holding its body a while, under
/// `POOLED_CEILING=2`. Catches (less reliably than the hooked test above):
/// a call that sees the layers stored before the ceiling is enabled.
#[test]
fn concurrent_first_uses_under_an_environment_ceiling_keep_it() {
    crate::common::in_own_process(
        "concurrent_first_uses_under_an_environment_ceiling_keep_it",
        &[("POOLED_CEILING", "2")],
        || {
            let start = Arc::new(std::sync::Barrier::new(RACING.len()));
            let threads: Vec<_> = RACING
                .iter()
                .map(|group| {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        group.run(|| {
                            enter();
                            std::thread::sleep(Duration::from_millis(20));
                            leave();
                        })
                    })
                })
                .collect();
            within(BOUND, move || {
                for t in threads {
                    assert_eq!(t.join().unwrap(), Ok(()));
                }
            });
            assert_eq!(pool_runtime::ceiling::limit(), Some(2));
            assert!(PEAK.load(SeqCst) <= 2, "peak {}", PEAK.load(SeqCst));
        },
    );
}

// ---- loads while groups are first used ----------------------------------------

/// The configuration text of load number `n` (sizes, bounds and the
/// ceiling all move; the last one, `n == LOADS - 1`, is the one checked).
fn load_text(n: usize) -> String {
    let mut text = format!("ceiling = {}\n", 20 + n % 7);
    for (i, group) in RACING.iter().enumerate() {
        text.push_str(&format!(
            "[groups.\"{}\"]\nsize = {}\nmax_waiting = {}\nadmission_timeout = \"{}ms\"\n",
            group.name(),
            1 + (n + i) % 5,
            10 + (n * 3 + i) % 11,
            100 + (n + 2 * i) % 13,
        ));
    }
    text
}

const LOADS: usize = 40;

/// What every racing group must end with after the load `n` (its pool and
/// its settings agree with it).
fn assert_at_load(n: usize) {
    for (i, group) in RACING.iter().enumerate() {
        let size = 1 + (n + i) % 5;
        let waiting = 10 + (n * 3 + i) % 11;
        let timeout = Duration::from_millis((100 + (n + 2 * i) % 13) as u64);
        let pool = group.pool();
        let got = (pool.size(), pool.max_waiting(), pool.admission_timeout());
        assert_eq!(
            got,
            (size, Some(waiting), Some(timeout)),
            "{}: the running pool does not match the last load",
            group.name()
        );
        let s = group.settings();
        assert_eq!(
            (s.size, s.max_waiting, s.admission_timeout),
            (Some(size), Some(waiting), Some(timeout)),
            "{}: the settings in force do not match the last load",
            group.name()
        );
    }
    assert_eq!(pool_runtime::ceiling::limit(), Some(20 + n % 7));
}

/// Promise: a load applies to every group, running or not ("A group
/// started meanwhile starts with the new layers"; `settle`); nothing hangs.
/// Attack: one thread makes 40 loads in a row (each moving every racing
/// group's size, waiting bound, admission timeout, and the ceiling) while
/// three threads make the first uses of 24 groups, in different orders,
/// through different calls (`size`, `run`, `stats`), some before the
/// process's first read of the environment. Catches: a pool built from
/// layers read before a load stored others and published after that load
/// skipped it (not yet started), left at the old settings; a `settle` that
/// moves a pool from the wrong settings; a deadlock between the loading
/// lock and a group's initialisation.
#[test]
fn first_uses_racing_loads_end_at_the_last_loads_settings() {
    crate::common::in_own_process(
        "first_uses_racing_loads_end_at_the_last_loads_settings",
        &[],
        || {
            let start = Arc::new(std::sync::Barrier::new(4));
            let loader = {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    for n in 0..LOADS {
                        config::load_str("race.toml", &load_text(n)).expect("a valid load");
                    }
                })
            };
            let users: Vec<_> = (0..3)
                .map(|t| {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        for k in 0..RACING.len() {
                            let group = RACING[(k * (t + 1) + t * 5) % RACING.len()];
                            match (k + t) % 3 {
                                0 => drop(group.size()),
                                1 => assert_eq!(group.run(|| 1), Ok(1)),
                                _ => drop(group.stats()),
                            }
                            if k % 4 == t {
                                std::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            within(BOUND, move || {
                loader.join().unwrap();
                for u in users {
                    u.join().unwrap();
                }
            });
            assert_at_load(LOADS - 1);
            // And the pools keep their (final) limits, counted from outside.
            for group in RACING {
                let meter = Meter::default();
                let size = group.size();
                let threads: Vec<_> = (0..size + 3)
                    .map(|_| {
                        let meter = meter.clone();
                        std::thread::spawn(move || {
                            group.run_wait(0, || {
                                let _in = meter.enter();
                                std::thread::sleep(Duration::from_millis(5));
                            })
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                assert!(
                    meter.max() <= size,
                    "{}: {} > {size}",
                    group.name(),
                    meter.max()
                );
                assert_accounted(&group.stats());
            }
        },
    );
}

/// Promise: `config::clear()` takes every group back to its declared
/// settings, running or not; nothing hangs. Attack: loads and a final
/// `clear` racing the first uses of 24 groups (declared with 2 slots and
/// no bounds). Catches: a group whose first use read the loaded layers and
/// published its pool after `clear` skipped it, left with the loaded size
/// or bounds.
#[test]
fn first_uses_racing_a_final_clear_end_at_the_declared_settings() {
    crate::common::in_own_process(
        "first_uses_racing_a_final_clear_end_at_the_declared_settings",
        &[],
        || {
            let start = Arc::new(std::sync::Barrier::new(3));
            let loader = {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    for n in 0..LOADS {
                        if n % 2 == 0 {
                            config::load_str("race.toml", &load_text(n)).expect("a valid load");
                        } else {
                            config::clear();
                        }
                    }
                })
            };
            let users: Vec<_> = (0..2)
                .map(|t| {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        for k in 0..RACING.len() {
                            let group = RACING[if t == 0 { k } else { RACING.len() - 1 - k }];
                            let _ = group.run(|| ());
                            std::thread::yield_now();
                        }
                    })
                })
                .collect();
            within(BOUND, move || {
                loader.join().unwrap();
                for u in users {
                    u.join().unwrap();
                }
            });
            for group in RACING {
                let pool = group.pool();
                assert_eq!(
                    (pool.size(), pool.max_waiting(), pool.admission_timeout()),
                    (2, None, None),
                    "{}: not back at its declaration after `clear`",
                    group.name()
                );
            }
            assert_eq!(pool_runtime::ceiling::limit(), None);
        },
    );
}

// ---- user code inside a group's first use -------------------------------------

static LOADED_FROM_RECORDER: Mutex<Option<Result<(), String>>> = Mutex::new(None);

/// Promise: a load applies to every group ("A group started meanwhile
/// starts with the new layers"), and the first use builds its pool holding
/// no lock, so a recorder may load configuration. Attack: a `metrics`
/// recorder that, when the handles of `BUILT`'s pool are registered (its
/// first use, building the pool from the settings it read before), loads
/// a configuration giving `BUILT` 5 slots, a waiting bound of 2 and a
/// timeout. Catches: the load refused or deadlocked (a lock held while the
/// pool is built), or the pool published with the settings read before
/// the load (the load skipped the group, not started yet).
#[test]
fn a_recorder_that_loads_while_a_group_is_built_leaves_it_at_the_loaded_settings() {
    crate::common::in_own_process(
        "a_recorder_that_loads_while_a_group_is_built_leaves_it_at_the_loaded_settings",
        &[],
        || {
            let loaded = AtomicBool::new(false);
            Hooked::install(move |pool| {
                if pool == "adv17::built" && !loaded.swap(true, SeqCst) {
                    let out = config::load_str(
                        "hook.toml",
                        "[groups.\"adv17::built\"]\nsize = 5\nmax_waiting = 2\nadmission_timeout = \"70ms\"\n",
                    )
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                    *LOADED_FROM_RECORDER.lock().unwrap() = Some(out);
                }
            });
            let size = within(BOUND, || BUILT.size());
            assert_eq!(
                *LOADED_FROM_RECORDER.lock().unwrap(),
                Some(Ok(())),
                "the recorder's load"
            );
            let pool = BUILT.pool();
            assert_eq!(
                (size, pool.max_waiting(), pool.admission_timeout()),
                (5, Some(2), Some(Duration::from_millis(70)))
            );
            assert_eq!(BUILT.settings().size, Some(5));
        },
    );
}

static INNER_RAN: AtomicUsize = AtomicUsize::new(0);

/// Promise: nothing is lost; a racing first use that loses drops its pool
/// ("a racing first use that loses drops its built pool"), and takes its
/// share back out of the `pooled.limit` gauge. Attack: a recorder that,
/// when `REENTERED`'s pool registers its handles, calls `REENTERED` itself
/// (a recorder exporting through the group it meters): the inner first use
/// builds and publishes a pool, the outer one loses. Catches: the call
/// made inside the recorder lost (counted by a pool that is thrown away),
/// two pools' limits left in the gauge, or a deadlock on the group's
/// initialisation.
#[test]
fn a_recorder_that_calls_the_group_it_meters_at_first_use_loses_nothing() {
    crate::common::in_own_process(
        "a_recorder_that_calls_the_group_it_meters_at_first_use_loses_nothing",
        &[],
        || {
            let hooked = Hooked::install(|pool| {
                if pool == "adv17::reentered"
                    && REENTERED.run(|| INNER_RAN.fetch_add(1, SeqCst)).is_err()
                {
                    panic!("the recorder's call was turned away");
                }
            });
            let out = within(BOUND, || REENTERED.run(|| 7));
            assert_eq!(out, Ok(7));
            let inner = INNER_RAN.load(SeqCst);
            assert!(inner >= 1, "the recorder's call ran");
            let s = REENTERED.stats();
            assert_accounted(&s);
            assert_eq!(
                s.completed,
                inner as u64 + 1,
                "every call of the group is in the stats of its one pool: {s:?}"
            );
            assert_eq!(
                hooked.limit_gauge("adv17::reentered"),
                Some(2.0),
                "the limit gauge counts the published pool only"
            );
        },
    );
}

// ---- wakers that change between polls ------------------------------------------

/// A waker forwarding to `inner`, a new one per poll, whose `clone` reads
/// the pool's getters (a waker that logs).
struct Forward {
    inner: Waker,
    pool: Pool,
}

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.inner.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.inner.wake_by_ref();
    }
}

/// Polls `inner` with a fresh waker on every poll (never `will_wake` the
/// one before), and asks to be polled again spuriously every other poll.
struct Rewaker<F> {
    inner: Pin<Box<F>>,
    pool: Pool,
    polls: usize,
}

impl<F: Future> Future for Rewaker<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _ = self.pool.stats();
        let waker = Waker::from(Arc::new(Forward {
            inner: cx.waker().clone(),
            pool: self.pool.clone(),
        }));
        self.polls += 1;
        let out = self.inner.as_mut().poll(&mut Context::from_waker(&waker));
        if out.is_pending() && self.polls % 2 == 0 {
            cx.waker().wake_by_ref();
        }
        out
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        // A waker's drop that reads the pool (the executor's code).
        let _ = self.pool.max_waiting();
    }
}

fn rewaker<F: Future>(pool: &Pool, f: F) -> Rewaker<F> {
    Rewaker {
        inner: Box::pin(f),
        pool: pool.clone(),
        polls: 0,
    }
}

/// A `submit` of `work` to (a handle of) `pool`, through [`Rewaker`].
fn owned_rewaker<F: Future>(
    pool: &Pool,
    work: F,
) -> impl Future<Output = Result<F::Output, pool_runtime::Rejected>> {
    let pool = pool.clone();
    async move { rewaker(&pool, pool.submit(work)).await }
}

/// Promise: no more than the limit at once; nothing hangs; nothing is lost.
/// Attack: 400 calls on a pool of 2, each polled with another waker on
/// every poll (cloned outside the pool's lock, then stored if the call
/// still waits) and re-polled spuriously, on two workers, racing the
/// releases that admit them. Catches: a call admitted between the waker's
/// clone and its store that is never woken again (lost wake-up: hang), a
/// waker stored on a node no longer waiting, a limit broken.
#[test]
fn calls_repolled_with_a_new_waker_every_poll_keep_the_limit_and_finish() {
    let pool = Pool::fixed(2);
    let meter = Meter::default();
    let (p, m) = (pool.clone(), meter.clone());
    let stats = within(BOUND, move || {
        common::runtime().block_on(async move {
            let tasks: Vec<_> = (0..400)
                .map(|i| {
                    let call = owned_rewaker(&p, m.clone().body(i % 2));
                    tokio::spawn(call)
                })
                .collect();
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(()));
            }
            p.stats()
        })
    });
    assert!(meter.max() <= 2, "{} ran at once", meter.max());
    assert_eq!(stats.completed, 400);
    assert_eq!((stats.running, stats.waiting), (0, 0));
    assert_accounted(&stats);
}

/// Promise: no more than the pool's bounds at once; nothing hangs; nothing
/// is lost. Attack: an autoscaled pool (1..=4, sampling every 500 µs) with
/// 600 calls that change wakers on every poll and are cancelled at random
/// moments (a `timeout` around each, some firing while the call waits, some
/// while it runs) on two workers, plus an admission timeout: every
/// cancellation is a demand sample that may move the limit and admit a
/// batch. Catches: the limit leaving its bounds, more than `max` calls
/// running, a cancelled call's slot or count lost, a wake-up lost.
#[test]
fn cancellations_racing_releases_on_an_autoscaled_pool_keep_bounds_and_accounting() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .size(2)
        .admission_timeout(Duration::from_millis(3))
        .build()
        .unwrap();
    pool.set_autoscale_timing(AutoscaleTiming {
        interval: Duration::from_millis(1),
        window: 2,
    })
    .unwrap();
    let meter = Meter::default();
    let limits = Arc::new(Mutex::new(Vec::new()));
    let (p, m, l) = (pool.clone(), meter.clone(), limits.clone());
    let stats = within(BOUND, move || {
        common::runtime().block_on(async move {
            let tasks: Vec<_> = (0..600u64)
                .map(|i| {
                    let call = owned_rewaker(&p, m.clone().body(i % 3));
                    let p = p.clone();
                    let l = l.clone();
                    tokio::spawn(async move {
                        let out =
                            tokio::time::timeout(Duration::from_micros(200 * (i % 11)), call).await;
                        l.lock().unwrap().push(p.size());
                        out
                    })
                })
                .collect();
            for t in tasks {
                let _ = t.await.unwrap();
            }
            // Let the last sample settle, then look.
            tokio::time::sleep(Duration::from_millis(5)).await;
            p.stats()
        })
    });
    assert!(meter.max() <= 4, "{} ran at once over max 4", meter.max());
    assert_eq!(meter.now(), 0);
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_eq!(stats.submitted(), 600, "{stats:?}");
    assert_accounted(&stats);
    let limits = limits.lock().unwrap();
    assert!(
        limits.iter().all(|l| (1..=4).contains(l)),
        "a limit left 1..=4: {limits:?}"
    );
    assert!((1..=4).contains(&pool.size()));
}

/// A waker whose `clone` panics while `ARMED` (a planned panic), and, if
/// `RELEASE` holds a permit, drops it first (freeing the slot the polled
/// call waits for, so that it is admitted between the two looks).
static ARMED: AtomicBool = AtomicBool::new(false);
static RELEASE: Mutex<Option<pool_runtime::OwnedPermit>> = Mutex::new(None);

fn waker_whose_clone_panics() -> Waker {
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, noop, noop, noop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        if ARMED.load(SeqCst) {
            drop(RELEASE.lock().unwrap().take());
            panic!("planned: a waker whose clone panics");
        }
        RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), vtable())) }
}

/// Promise: a waker's panic changes nothing and loses nothing ("A `clone`
/// that panics changes nothing"). Attack: a call waiting on a full pool of
/// 1, re-polled with a waker whose `clone` panics; the panic is caught and
/// the call polled again with its first task's waker, then the slot freed.
/// Catches: the call dropped from the queue or its old waker lost (never
/// woken, hangs), or counted twice.
#[test]
fn a_waker_whose_clone_panics_on_a_repoll_changes_nothing() {
    quiet_planned_panics();
    let _turn = CLONE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let pool = Pool::fixed(1);
    let held = pool.try_acquire_owned(0).unwrap();
    let counting = Arc::new(Counting::default());
    let first = Waker::from(counting.clone());
    let mut call = Box::pin(pool.submit(async { 5 }));
    assert!(call
        .as_mut()
        .poll(&mut Context::from_waker(&first))
        .is_pending());
    ARMED.store(true, SeqCst);
    let bad = waker_whose_clone_panics();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let _ = call.as_mut().poll(&mut Context::from_waker(&bad));
    }));
    ARMED.store(false, SeqCst);
    assert!(panicked.is_err(), "the clone panicked");
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (1, 1), "{s:?}");
    drop(held);
    assert!(
        counting.0.load(SeqCst) >= 1,
        "the stored (first) waker was woken"
    );
    assert_eq!(
        call.as_mut().poll(&mut Context::from_waker(&first)),
        Poll::Ready(Ok(5))
    );
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.completed), (0, 0, 2), "{s:?}");
    assert_accounted(&s);
}

static CLONE_TURN: Mutex<()> = Mutex::new(());

/// Counts its wake-ups.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Promise: nothing is lost, no slot leaks. Attack: a call waiting on a
/// full pool of 1 is re-polled with a waker whose `clone` frees the slot it
/// waits for (so the call is admitted between the library's two looks at
/// it) and then panics; the call is then dropped, or polled to the end.
/// Catches: the slot the call was handed kept forever (the pool stuck
/// full), or the call counted neither cancelled nor completed.
#[test]
fn a_waker_clone_that_frees_the_slot_then_panics_loses_no_slot() {
    quiet_planned_panics();
    let _turn = CLONE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    for finish in [false, true] {
        let pool = Pool::fixed(1);
        *RELEASE.lock().unwrap() = Some(pool.try_acquire_owned(0).unwrap());
        let mut call = Box::pin(pool.submit(async { 5 }));
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
        ARMED.store(true, SeqCst);
        let bad = waker_whose_clone_panics();
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            let _ = call.as_mut().poll(&mut Context::from_waker(&bad));
        }));
        ARMED.store(false, SeqCst);
        assert!(panicked.is_err(), "the clone panicked");
        assert!(RELEASE.lock().unwrap().is_none(), "the slot was freed");
        if finish {
            assert_eq!(
                call.as_mut().poll(&mut Context::from_waker(Waker::noop())),
                Poll::Ready(Ok(5))
            );
        } else {
            drop(call);
        }
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "finish {finish}: {s:?}");
        assert_accounted(&s);
        assert_eq!(s.submitted(), 2, "{s:?}");
        assert!(
            pool.try_acquire().is_ok(),
            "finish {finish}: the slot is free"
        );
    }
}

// ---- permits -------------------------------------------------------------------

/// Drops what it holds when woken (a waker that owns a permit of another
/// pool, say a connection's, released when its task is woken).
struct DropsOnWake(Mutex<Option<pool_runtime::OwnedPermit>>, AtomicUsize);

impl Wake for DropsOnWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.1.fetch_add(1, SeqCst);
        let permit = self.0.lock().unwrap().take();
        drop(permit);
    }
}

/// Promise: no lock of the library held while user code runs (a waker);
/// nothing lost. Attack: pool A's only slot is held by an owned permit
/// that lives inside the waker of a call waiting on pool B; another call
/// waits on A. Freeing B's slot wakes that waker (inside B's release),
/// which drops A's permit (A's release, admitting A's waiter, inside B's).
/// Then the same with A = B: the waker drops a permit of the very pool
/// that is waking it. Catches: a deadlock on a pool's lock held while
/// waking; a slot or a count lost.
#[test]
fn a_permit_dropped_inside_a_waker_another_release_wakes_frees_its_slot() {
    within(BOUND, || {
        for same in [false, true] {
            let a = Pool::fixed(1);
            let b = if same { a.clone() } else { Pool::fixed(1) };
            let holder = Arc::new(DropsOnWake(
                Mutex::new(Some(a.try_acquire_owned(0).unwrap())),
                AtomicUsize::new(0),
            ));
            let b_held = if same {
                None
            } else {
                Some(b.try_acquire_owned(0).unwrap())
            };
            // A call on B (or on A itself) whose waker holds A's permit.
            let waker = Waker::from(holder.clone());
            let mut on_b = Box::pin(b.submit(async { 1 }));
            assert!(on_b
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            let mut on_a = Task::new(a.submit(async { 2 }));
            if !same {
                on_a.assert_pending();
            }
            drop(b_held);
            if same {
                // The waker must be woken by something: the only slot is
                // the waker's permit; wake it by hand as an executor would.
                waker.wake_by_ref();
            }
            assert!(
                holder.1.load(SeqCst) >= 1,
                "same {same}: the waker was woken"
            );
            assert!(holder.0.lock().unwrap().is_none());
            assert_eq!(
                on_b.as_mut().poll(&mut Context::from_waker(Waker::noop())),
                Poll::Ready(Ok(1)),
                "same {same}"
            );
            if !same {
                assert_eq!(on_a.assert_ready(), Ok(2));
            } else {
                drop(on_a);
            }
            for pool in [&a, &b] {
                let s = pool.stats();
                assert_eq!((s.running, s.waiting), (0, 0), "same {same}: {s:?}");
                assert_accounted(&s);
            }
        }
    });
}

/// Promise: no more than the limit; nothing lost. Attack: owned permits of
/// a pool of 3 taken on one thread, moved to others and dropped there while
/// a thread panics holding one (dropped while unwinding), and other threads
/// race `try_acquire_owned` and `acquire_owned`, counting holders from
/// outside. Catches: a permit dropped in a panic or on another thread
/// releasing twice or never; more than 3 holders at once.
#[test]
fn permits_moved_between_threads_and_held_across_panics_keep_the_limit() {
    quiet_planned_panics();
    let pool = Pool::fixed(3);
    let meter = Meter::default();
    let p = pool.clone();
    let m = meter.clone();
    let stats = within(BOUND, move || {
        let rt = common::runtime();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (p, m) = (p.clone(), m.clone());
                let handle = rt.handle().clone();
                std::thread::spawn(move || {
                    for k in 0..200 {
                        let permit = if k % 2 == 0 {
                            match p.try_acquire_owned(t) {
                                Ok(permit) => permit,
                                Err(_) => continue,
                            }
                        } else {
                            handle.block_on(p.acquire_owned(t)).unwrap()
                        };
                        let inside = m.enter();
                        if k % 17 == 3 {
                            // Held across a panic: dropped while unwinding.
                            let r = catch_unwind(AssertUnwindSafe(move || {
                                let _held = (inside, permit);
                                panic!("planned: a panic holding a permit");
                            }));
                            assert!(r.is_err());
                        } else {
                            // Moved to another thread and dropped there.
                            std::thread::spawn(move || {
                                drop(inside);
                                drop(permit);
                            })
                            .join()
                            .unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        p.stats()
    });
    assert!(meter.max() <= 3, "{} held at once", meter.max());
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);
    assert!(pool.try_acquire().is_ok());
}

/// Promise: nothing lost; `shutdown` reports what it left. Attack: a pool
/// of 1 whose one running call never ends, 5 queued calls each re-polled
/// with a new waker, and a `shutdown` with a short deadline. Catches:
/// `ShutdownTimedOut` miscounting (the running call, the calls turned
/// away), or a queued call left hanging instead of being turned away.
#[test]
fn shutdown_timed_out_counts_what_it_turned_away_from_calls_changing_wakers() {
    let pool = Pool::fixed(1);
    let p = pool.clone();
    let (report, outs) = within(BOUND, move || {
        common::runtime().block_on(async move {
            let runner = tokio::spawn({
                let p = p.clone();
                async move { p.submit(std::future::pending::<()>()).await }
            });
            while p.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let queued: Vec<_> = (0..5)
                .map(|_| tokio::spawn(owned_rewaker(&p, async {})))
                .collect();
            while p.stats().waiting < 5 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let report = p.shutdown(Some(Duration::from_millis(20))).await;
            let mut outs = Vec::new();
            for q in queued {
                outs.push(q.await.unwrap());
            }
            runner.abort();
            let _ = runner.await;
            (report, outs)
        })
    });
    let err = report.expect_err("the running call never ends");
    assert_eq!(
        (err.running, err.turned_away, err.waiting),
        (1, 5, 0),
        "{err:?}"
    );
    assert!(
        outs.iter()
            .all(|o| *o == Err(pool_runtime::Rejected::Closed)),
        "{outs:?}"
    );
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
    assert_accounted(&s);
}

// ---- user code run while a first use builds again -----------------------------------

static SETTLED: Group = Group::new(GroupSpec::new("adv17::settled").size(2));
register_group!(SETTLED);

/// What the limit gauge's load (made from the rebuilt pool's limit report) returned.
static LOAD_IN_SETTLE: Mutex<Option<Result<(), String>>> = Mutex::new(None);

/// Whether the [`LoadingGauge`] loads (else it only notes the change).
static GAUGE_LOADS: AtomicBool = AtomicBool::new(true);

/// A `pooled.limit` gauge that, when it moves by `+5` (the pool the first
/// use builds again from the recorder's load, at 5 slots — it used to be
/// `settle`'s resize of the pool built at 2, `+3`), loads a configuration
/// (a recorder that reacts to a limit change by retuning another group,
/// say).
struct LoadingGauge;

impl metrics::GaugeFn for LoadingGauge {
    fn increment(&self, value: f64) {
        if value == 5.0 && LOAD_IN_SETTLE.lock().unwrap().is_none() {
            if !GAUGE_LOADS.load(SeqCst) {
                *LOAD_IN_SETTLE.lock().unwrap() = Some(Ok(()));
                return;
            }
            let out = config::load_str(
                "gauge.toml",
                "[groups.\"adv17::settled\"]\nsize = 5\nmax_waiting = 9\n",
            )
            .map(|_| ())
            .map_err(|e| e.to_string());
            *LOAD_IN_SETTLE.lock().unwrap() = Some(out);
        }
    }
    fn decrement(&self, _: f64) {}
    fn set(&self, _: f64) {}
}

/// A recorder that loads a configuration sizing `SETTLED` to 5 when its
/// pool registers its handles (so that the first use builds again), and
/// hands out a [`LoadingGauge`] for its limit.
struct SettlingRecorder(AtomicBool);

impl metrics::Recorder for SettlingRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let settled = key
            .labels()
            .any(|l| l.key() == "pool" && l.value() == "adv17::settled");
        if settled && !self.0.swap(true, SeqCst) {
            config::load_str("hook.toml", "[groups.\"adv17::settled\"]\nsize = 5\n")
                .expect("a valid load");
        }
        metrics::Counter::noop()
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        let settled = key
            .labels()
            .any(|l| l.key() == "pool" && l.value() == "adv17::settled");
        if settled && key.name() == "pooled.limit" {
            return metrics::Gauge::from_arc(Arc::new(LoadingGauge));
        }
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// Promise: nothing hangs; a load from user code the library runs is
/// applied or refused with an error value ("a load started from that user
/// code on the same thread is refused"), never a deadlock; no lock of the
/// library held while user code runs. Attack: a group's first use whose
/// settings change while it builds (a recorder loads a configuration
/// sizing the group to 5 while the pool, read at 2, is being built), so
/// that it builds again at 5, and the `pooled.limit` gauge (the user's
/// `GaugeFn`) reacts to that pool's limit by loading a configuration.
/// Caught when it was written: `settle` (which then resized the published
/// pool 2 -> 5) held the loading lock while the resize's reports ran,
/// without marking the thread as applying a load, so that the gauge's load
/// waited for the lock its own thread held.
#[test]
fn a_load_from_a_report_made_while_a_first_use_settles_does_not_deadlock() {
    crate::common::in_own_process(
        "a_load_from_a_report_made_while_a_first_use_settles_does_not_deadlock",
        &[],
        || {
            let recorder: &'static SettlingRecorder =
                Box::leak(Box::new(SettlingRecorder(AtomicBool::new(false))));
            metrics::set_global_recorder(recorder).expect("the only recorder");
            let size = within(Duration::from_secs(10), || SETTLED.size());
            assert!(
                LOAD_IN_SETTLE.lock().unwrap().is_some(),
                "the gauge saw the rebuilt pool's limit and loaded"
            );
            assert_eq!(size, 5, "settled at the recorder's load");
        },
    );
}

/// The control of the test above: the same first use, built again, with a
/// gauge that only notes the new pool's limit (no load): it returns, at 5
/// slots.
#[test]
fn a_first_use_that_settles_with_a_report_that_does_not_load_returns() {
    crate::common::in_own_process(
        "a_first_use_that_settles_with_a_report_that_does_not_load_returns",
        &[],
        || {
            GAUGE_LOADS.store(false, SeqCst);
            let recorder: &'static SettlingRecorder =
                Box::leak(Box::new(SettlingRecorder(AtomicBool::new(false))));
            metrics::set_global_recorder(recorder).expect("the only recorder");
            let size = within(Duration::from_secs(10), || SETTLED.size());
            assert_eq!(
                *LOAD_IN_SETTLE.lock().unwrap(),
                Some(Ok(())),
                "the gauge saw +5"
            );
            assert_eq!(size, 5, "settled at the recorder's load");
        },
    );
}

// ---- a warning given while a group sets up its fleet -----------------------------

/// A group declared by hand with a fleet limit and no URL: its fleet
/// settings fail their check, so its first use warns (`pooled::fleet`) and
/// runs it without a fleet.
#[cfg(feature = "redis")]
static FLEETLESS: Group = Group::new(GroupSpec::new("adv17::fleetless").size(2).fleet_limit(3));

/// Whether [`FleetShippingLogger`] ships through another group (`SECOND`).
#[cfg(feature = "redis")]
static SHIP_THROUGH_OTHER: AtomicBool = AtomicBool::new(false);

/// A logger that ships each `pooled::fleet` record through `FLEETLESS`
/// (the application's pooled client), counting what it shipped.
#[cfg(feature = "redis")]
struct FleetShippingLogger(AtomicUsize);

#[cfg(feature = "redis")]
impl log::Log for FleetShippingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target() != "pooled::fleet" || IN_HOOK.with(|h| h.replace(true)) {
            return;
        }
        let through = if SHIP_THROUGH_OTHER.load(SeqCst) {
            &SECOND
        } else {
            &FLEETLESS
        };
        if through.run(|| ()).is_ok() {
            self.0.fetch_add(1, SeqCst);
        }
        IN_HOOK.with(|h| h.set(false));
    }
    fn flush(&self) {}
}

/// Promise: nothing hangs; no lock of the library is held while user code
/// (a logger) runs. The docs of `Group::fleet`: a group whose declared
/// fleet settings fail their check "says so once, at that first use, with
/// a warning through `log`". Attack: a logger that ships that warning
/// through the same group (the way round 16's log shipper ships
/// configuration warnings). Catches: the warning given inside the group's
/// fleet initialisation (`OnceLock::get_or_init` in `Group::fleet`), so
/// that the logger's call of the group initialises it again from inside
/// itself: a deadlock (or a panic).
#[cfg(feature = "redis")]
#[test]
fn a_logger_shipping_a_fleet_refusal_through_its_own_group_does_not_deadlock() {
    crate::common::in_own_process(
        "a_logger_shipping_a_fleet_refusal_through_its_own_group_does_not_deadlock",
        &[],
        || {
            let logger: &'static FleetShippingLogger =
                Box::leak(Box::new(FleetShippingLogger(AtomicUsize::new(0))));
            log::set_logger(logger).unwrap();
            log::set_max_level(log::LevelFilter::Warn);
            let out = within(Duration::from_secs(10), || FLEETLESS.run(|| 1));
            assert_eq!(out, Ok(1));
            assert!(logger.0.load(SeqCst) >= 1, "the warning was shipped");
            let s = FLEETLESS.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        },
    );
}

/// The control of the test above: the same warning shipped through another
/// group is shipped and the first call returns — the hang above is the
/// logger's call re-entering the group's fleet initialisation.
#[cfg(feature = "redis")]
#[test]
fn a_logger_shipping_a_fleet_refusal_through_another_group_returns() {
    crate::common::in_own_process(
        "a_logger_shipping_a_fleet_refusal_through_another_group_returns",
        &[],
        || {
            SHIP_THROUGH_OTHER.store(true, SeqCst);
            let logger: &'static FleetShippingLogger =
                Box::leak(Box::new(FleetShippingLogger(AtomicUsize::new(0))));
            log::set_logger(logger).unwrap();
            log::set_max_level(log::LevelFilter::Warn);
            let out = within(Duration::from_secs(10), || FLEETLESS.run(|| 1));
            assert_eq!(out, Ok(1));
            assert!(logger.0.load(SeqCst) >= 1, "the warning was shipped");
        },
    );
}

/// A group with valid fleet settings (a Redis nobody listens at; calls
/// run locally when it cannot be reached).
#[cfg(feature = "redis")]
static FLEETED: Group = Group::new(
    GroupSpec::new("adv17::fleeted")
        .size(2)
        .fleet_limit(3)
        .fleet_url("redis://127.0.0.1:1")
        .fleet_unreachable(pool_runtime::fleet::OnUnreachable::Local),
);

/// Promise: nothing hangs; no lock of the library is held while user code
/// (a `metrics` recorder) runs. Attack: a recorder that, when the group's
/// fleet registers its handles (`pooled.fleet.*`, at the group's first
/// call, once its pool is built), calls the group (an exporter that
/// announces new metrics through a pooled client). Catches: the fleet's
/// handles registered inside the group's fleet initialisation
/// (`OnceLock::get_or_init` in `Group::fleet`), which the recorder's call
/// enters again from inside itself: a deadlock (or a panic).
#[cfg(feature = "redis")]
#[test]
fn a_recorder_calling_a_fleet_group_when_its_fleet_registers_does_not_deadlock() {
    crate::common::in_own_process(
        "a_recorder_calling_a_fleet_group_when_its_fleet_registers_does_not_deadlock",
        &[],
        || {
            static CALLED: AtomicUsize = AtomicUsize::new(0);
            Hooked::install(|pool| {
                if pool == "adv17::fleeted" && FLEETED.is_started() && FLEETED.run(|| ()).is_ok() {
                    CALLED.fetch_add(1, SeqCst);
                }
            });
            let out = within(Duration::from_secs(10), || FLEETED.run(|| 1));
            assert_eq!(out, Ok(1));
            assert!(CALLED.load(SeqCst) >= 1, "the recorder's call ran");
        },
    );
}

/// The control of the test above: the same recorder calling another group
/// when the fleet registers; the first call (its fleet unreachable, run
/// locally) returns — the hang above is the re-entered initialisation.
#[cfg(feature = "redis")]
#[test]
fn a_recorder_calling_another_group_when_a_fleet_registers_returns() {
    crate::common::in_own_process(
        "a_recorder_calling_another_group_when_a_fleet_registers_returns",
        &[],
        || {
            static CALLED: AtomicUsize = AtomicUsize::new(0);
            Hooked::install(|pool| {
                if pool == "adv17::fleeted" && FLEETED.is_started() && SECOND.run(|| ()).is_ok() {
                    CALLED.fetch_add(1, SeqCst);
                }
            });
            let out = within(Duration::from_secs(10), || FLEETED.run(|| 1));
            assert_eq!(out, Ok(1));
            assert!(CALLED.load(SeqCst) >= 1, "the recorder's call ran");
        },
    );
}

// ---- a clock that steers the pool it times -----------------------------------------

/// A clock that, on every third reading (not nested in one of its own),
/// takes a slot of the pool it times and frees it at once, and on every
/// seventh panics (a planned panic), when armed.
struct MeddlingClock {
    pool: Arc<std::sync::OnceLock<Pool>>,
}

/// The armed readings of the [`MeddlingClock`].
static CLOCK_READS: AtomicUsize = AtomicUsize::new(0);

impl pool_runtime::Clock for MeddlingClock {
    fn now(&self) -> Duration {
        thread_local! {
            static INSIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        let now = pool_runtime::SystemClock.now();
        let Some(pool) = self.pool.get() else {
            return now;
        };
        if INSIDE.with(|i| i.replace(true)) {
            return now;
        }
        let n = CLOCK_READS.fetch_add(1, SeqCst);
        let meddled = catch_unwind(AssertUnwindSafe(|| {
            if n % 3 == 0 {
                drop(pool.try_acquire());
            }
        }));
        INSIDE.with(|i| i.set(false));
        assert!(meddled.is_ok(), "the clock's own call panicked");
        if n % 7 == 0 {
            panic!("planned: a clock that panics");
        }
        now
    }
}

/// Promise: no more than the pool's bounds at once; nothing is lost or
/// hangs whatever a `Clock` does ("a `Clock` that panics reads as standing
/// still"; no lock held while it runs). Attack: an autoscaled pool
/// (1..=3, sampling every 500 µs) whose clock, now read before the pool's
/// lock at every enqueue, release and cancellation, takes and frees a slot
/// of the same pool every third reading and panics every seventh, under
/// 400 calls cancelled at random moments on two workers. Catches: a panic
/// leaving a cancellation half done (the call's node still queued, its
/// slot or count lost), a release inside the clock's reading breaking the
/// limit or deadlocking.
#[test]
fn a_clock_that_takes_slots_and_panics_under_cancellations_keeps_bounds_and_accounting() {
    quiet_planned_panics();
    let cell = Arc::new(std::sync::OnceLock::new());
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(3)
        .size(2)
        .clock(MeddlingClock { pool: cell.clone() })
        .build()
        .unwrap();
    pool.set_autoscale_timing(AutoscaleTiming {
        interval: Duration::from_millis(1),
        window: 2,
    })
    .unwrap();
    let _ = cell.set(pool.clone());
    let meter = Meter::default();
    let (p, m) = (pool.clone(), meter.clone());
    let stats = within(BOUND, move || {
        common::runtime().block_on(async move {
            let tasks: Vec<_> = (0..400u64)
                .map(|i| {
                    let call = owned_rewaker(&p, m.clone().body(i % 3));
                    tokio::spawn(async move {
                        tokio::time::timeout(Duration::from_micros(300 * (i % 7)), call).await
                    })
                })
                .collect();
            for t in tasks {
                let _ = t.await.unwrap();
            }
            p.stats()
        })
    });
    let _ = cell; // the clock keeps a handle: the pool is leaked, as intended
    assert!(meter.max() <= 3, "{} ran at once over max 3", meter.max());
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);
    assert!((1..=3).contains(&pool.size()));
    assert!(pool.try_acquire().is_ok(), "a slot is free");
    assert!(
        CLOCK_READS.load(SeqCst) > 100,
        "the clock was read (and meddled)"
    );
}

// ---- calls held by a pause, changing wakers ------------------------------------------

/// A group of its own (never configured), priority-ordered.
static HELD_GROUP: Group = Group::new(
    GroupSpec::new("adv17::held")
        .size(2)
        .order(pool_runtime::Order::Priority),
);

/// Promise: no more than the limit at once; nothing hangs; nothing is lost.
/// Attack: 300 never-rejecting calls (`submit_wait`, held while the group
/// is paused) of mixed weights on a priority group of 2, each re-polled
/// with a new waker every poll and cancelled at random moments, while
/// another thread pauses and resumes the group every few hundred
/// microseconds (moving held calls into the queue and admitting them).
/// Catches: a new waker stored on a node that moved from `held` to the
/// queue or was admitted between the waker's clone and its store (a lost
/// wake-up: hang); a held call's cancellation lost; the limit broken.
#[test]
fn held_calls_changing_wakers_under_pause_resume_and_cancellation_lose_nothing() {
    let meter = Meter::default();
    let stop = Arc::new(AtomicBool::new(false));
    let toggler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                HELD_GROUP.pause();
                std::thread::sleep(Duration::from_micros(300));
                HELD_GROUP.resume();
                std::thread::sleep(Duration::from_micros(300));
            }
            HELD_GROUP.resume();
        })
    };
    let m = meter.clone();
    let finished = within(BOUND, move || {
        common::runtime().block_on(async move {
            let pool = HELD_GROUP.pool().clone();
            let tasks: Vec<_> = (0..300u64)
                .map(|i| {
                    let call = rewaker(
                        &pool,
                        HELD_GROUP.submit_wait(i as i64 % 5, m.clone().body(i % 2)),
                    );
                    tokio::spawn(async move {
                        if i % 3 == 0 {
                            tokio::time::timeout(Duration::from_micros(400 * (i % 5)), call)
                                .await
                                .is_ok()
                        } else {
                            call.await;
                            true
                        }
                    })
                })
                .collect();
            let mut finished = 0;
            for t in tasks {
                finished += usize::from(t.await.unwrap());
            }
            finished
        })
    });
    stop.store(true, SeqCst);
    toggler.join().unwrap();
    assert!(
        finished >= 200,
        "every call that was not cancelled finished"
    );
    assert!(meter.max() <= 2, "{} ran at once", meter.max());
    let s = HELD_GROUP.stats();
    assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
    assert_eq!(s.submitted(), 300, "{s:?}");
    assert_accounted(&s);
}
