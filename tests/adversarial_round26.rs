//! Hostile tests, round 26 (facade): per-test isolation of global groups
//! under the application-wide ceiling while a reload moves the ceiling,
//! isolation guards dropped out of order and on other threads while the
//! instances' calls run, wait and nest; nested calls that outlive their
//! parents. Concurrency is counted from outside the library (a meter around
//! the bodies' own work, not around their waits for nested calls), every
//! wait is bounded by a watchdog, and each test takes the configuration turn
//! (the ceiling is process-wide).
#![cfg(all(feature = "tokio", feature = "config", feature = "test-util"))]

mod common;
use common::{config_turn, multi_thread, within, Meter};
use pooled::{Group, GroupSpec, Rejected, Stats};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(30);

/// Every term of the identity counted on its own, and nothing in flight.
#[track_caller]
fn assert_quiet(stats: &Stats, what: &str) {
    assert_eq!(
        (stats.running, stats.waiting, stats.nested),
        (0, 0, 0),
        "{what}: {stats:?}"
    );
    assert_eq!(
        stats.submitted(),
        stats.completed + stats.rejected_total() + stats.cancelled,
        "{what}: accounting {stats:?}"
    );
}

/// Bodies doing work now, across every group, and the most at once in the
/// current phase (reset by the test when a phase with a new bound starts).
struct Active {
    now: AtomicUsize,
    phase_max: AtomicUsize,
    /// Per group (0, 1): bodies of that group's pool doing work now / most.
    group_now: [AtomicUsize; 2],
    group_max: [AtomicUsize; 2],
}

struct Working<'a>(&'a Active, usize);

impl Active {
    const fn new() -> Active {
        Active {
            now: AtomicUsize::new(0),
            phase_max: AtomicUsize::new(0),
            group_now: [AtomicUsize::new(0), AtomicUsize::new(0)],
            group_max: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    fn enter(&self, group: usize) -> Working<'_> {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.phase_max.fetch_max(now, SeqCst);
        let g = self.group_now[group].fetch_add(1, SeqCst) + 1;
        self.group_max[group].fetch_max(g, SeqCst);
        Working(self, group)
    }

    /// Starts a new phase: its maximum starts from what runs now.
    fn new_phase(&self) {
        self.phase_max.store(self.now.load(SeqCst), SeqCst);
    }
}

impl Drop for Working<'_> {
    fn drop(&mut self) {
        self.0.group_now[self.1].fetch_sub(1, SeqCst);
        self.0.now.fetch_sub(1, SeqCst);
    }
}

static CEIL_A: Group = Group::new(GroupSpec::new("r26::ceil_a").size(2));
static CEIL_B: Group = Group::new(GroupSpec::new("r26::ceil_b").size(2));
static ACTIVE: Active = Active::new();

async fn work(active: &'static Active, group: usize, ms: u64) {
    let _w = active.enter(group);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A top-level call of group `g`: some work of its own, then two nested
/// calls joined (one into the other group, one into its own), then more
/// work. Its own work is counted only while it is not waiting on them.
async fn parent(g: usize) -> Result<(), Rejected> {
    let (me, other) = if g == 0 {
        (&CEIL_A, &CEIL_B)
    } else {
        (&CEIL_B, &CEIL_A)
    };
    me.submit(0, async move {
        work(&ACTIVE, g, 3).await;
        let (x, y) = tokio::join!(
            other.submit(0, work(&ACTIVE, 1 - g, 3)),
            me.submit(0, work(&ACTIVE, g, 3)),
        );
        x?;
        y?;
        work(&ACTIVE, g, 2).await;
        Ok::<(), Rejected>(())
    })
    .await?
}

/// Promise (README, configuration: "Reload applies changed limits to
/// running pools at once (growing admits waiters, shrinking lets running
/// calls finish)"; the ceiling "is taken before a group's slot"; "nested
/// calls follow the reentrancy rule for the ceiling too (one at a time under
/// their parent's ceiling slot)"; `Isolation`: "Everything that goes
/// through `Group::pool` is isolated"). Attack: two groups of 2, both
/// isolated in the test's runtime, under a ceiling of 3; 24 tasks whose
/// calls join a nested call into the other group with one into their own
/// group; mid-run a reload lowers the ceiling to 1, later raises it to 2;
/// finally the guards are dropped on another thread, in reverse order,
/// while calls run and wait. Counted from outside: each group's work never
/// past 2; all work never past the ceiling in force (3; 1 once the
/// ceiling's running count fell to 1 after the lowering; 2 after the
/// raise); every call completes; the instances and the shared pools end
/// quiet and accounted; the ceiling's stats too.
#[test]
fn isolated_groups_under_a_ceiling_a_reload_moves_keep_every_limit() {
    let _turn = config_turn();
    within(BOUND, || {
        pooled::config::load_str("r26.toml", "ceiling = 3\n").unwrap();
        let rt = multi_thread();
        let (guard_a, guard_b) = rt.block_on(async { (CEIL_A.isolate(), CEIL_B.isolate()) });
        let (inst_a, inst_b) = (guard_a.pool(), guard_b.pool());
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..24 {
            let stop = stop.clone();
            tasks.push(rt.spawn(async move {
                let mut calls = 0u32;
                while !stop.load(SeqCst) {
                    parent(i % 2).await.expect("a never-rejected call");
                    calls += 1;
                }
                calls
            }));
        }
        let ceiling_running = || pooled::ceiling::stats().expect("a ceiling").running;
        let settle = |bound: usize| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while ceiling_running() > bound {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the ceiling never drained"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        std::thread::sleep(Duration::from_millis(300));
        let p3 = ACTIVE.phase_max.load(SeqCst);
        assert!(p3 <= 3, "ceiling 3: {p3} at work at once");

        pooled::config::load_str("r26.toml", "ceiling = 1\n").unwrap();
        settle(1);
        ACTIVE.new_phase();
        std::thread::sleep(Duration::from_millis(300));
        let p1 = ACTIVE.phase_max.load(SeqCst);

        pooled::config::load_str("r26.toml", "ceiling = 2\n").unwrap();
        ACTIVE.new_phase();
        std::thread::sleep(Duration::from_millis(300));
        let p2 = ACTIVE.phase_max.load(SeqCst);

        let gmax = [
            ACTIVE.group_max[0].load(SeqCst),
            ACTIVE.group_max[1].load(SeqCst),
        ];
        // The guards dropped on another thread, the newer first, while
        // calls of the instances run and wait.
        std::thread::spawn(move || {
            drop(guard_b);
            std::thread::sleep(Duration::from_millis(20));
            drop(guard_a);
        })
        .join()
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, SeqCst);
        let mut calls = 0;
        for t in tasks {
            calls += rt.block_on(t).unwrap();
        }
        assert!(calls > 24, "only {calls} calls");
        assert!(p1 <= 1, "ceiling 1: {p1} at work at once");
        assert!(p2 <= 2, "ceiling 2: {p2} at work at once");
        assert!(gmax[0] <= 2 && gmax[1] <= 2, "group limits 2: {gmax:?}");
        let last = ACTIVE.phase_max.load(SeqCst);
        assert!(last <= 2, "ceiling 2 after the guards dropped: {last}");
        for (pool, what) in [
            (inst_a, "instance a"),
            (inst_b, "instance b"),
            (CEIL_A.pool(), "shared a"),
            (CEIL_B.pool(), "shared b"),
        ] {
            assert_quiet(&pool.stats(), what);
        }
        let ceiling = pooled::ceiling::stats().unwrap();
        assert_quiet(&ceiling, "ceiling");
        drop(rt);
        pooled::config::clear();
    });
}

static ORPH_A: Group = Group::new(GroupSpec::new("r26::orphan_a").size(1));
static ORPH_B: Group = Group::new(GroupSpec::new("r26::orphan_b").size(4));

/// Waits (on tokio's timer) until `flag` is set, up to the watchdog.
async fn until_set(flag: &AtomicBool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !flag.load(SeqCst) {
        assert!(tokio::time::Instant::now() < deadline, "never set");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// How a nested call outlives the call it was made in.
#[derive(Clone, Copy, Debug)]
enum Orphan {
    /// A nested call polled once in its parent's work, returned out of it,
    /// and driven to its end by another task.
    Returned,
    /// A nested blocking job whose caller stopped waiting for it.
    Blocking,
    /// A nested owned permit returned out of its parent and held on
    /// another thread.
    Permit,
}

/// Promise (README, reentrancy rule: "only while the parent holds it: a
/// nested call that outlives its parent (a future returned out of the work,
/// a blocking job whose caller went away) keeps the slot busy until it ends,
/// and releases it then"; the ceiling: "nested calls follow the reentrancy
/// rule for the ceiling too (one at a time under their parent's ceiling
/// slot)"). Attack: under a ceiling of 1, a call of a group of 1 makes a
/// nested call that outlives it (each way above); once the parent has
/// ended and the orphan works on, a top-level call of the same group and
/// one of another group (4 free slots) are made. Counted from outside:
/// neither may start before the orphan ends (the orphan still holds its
/// parent's group slot and its ceiling slot, else 2 calls run under a
/// ceiling of 1); once it ends, both run; everything ends quiet.
#[test]
#[allow(clippy::async_yields_async)] // a parent returns its nested call
fn nested_calls_outliving_their_parent_keep_its_ceiling_slot() {
    let _turn = config_turn();
    within(BOUND, || {
        pooled::config::load_str("r26.toml", "ceiling = 1\n").unwrap();
        let rt = multi_thread();
        for kind in [Orphan::Returned, Orphan::Blocking, Orphan::Permit] {
            let meter: &'static Meter = Box::leak(Box::new(Meter::new()));
            let started: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
            let (release, gate) = std::sync::mpsc::channel::<()>();
            let gate = Arc::new(std::sync::Mutex::new(gate));
            // The orphan: made in its parent's work, left running there.
            let orphan: tokio::task::JoinHandle<()> = match kind {
                Orphan::Returned => {
                    let returned = rt.block_on(ORPH_A.submit(0, async move {
                        let mut nested = Box::pin(ORPH_A.submit(0, async move {
                            let _in = meter.enter();
                            started.store(true, SeqCst);
                            while gate.lock().unwrap().try_recv().is_err() {
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                        }));
                        assert!(futures::poll!(nested.as_mut()).is_pending());
                        until_set(started).await;
                        nested
                    }));
                    let nested = returned.expect("the parent ran");
                    rt.spawn(async move { nested.await.expect("the orphan ran") })
                }
                Orphan::Blocking => {
                    rt.block_on(ORPH_A.submit(0, async move {
                        let job = ORPH_A.submit_blocking(0, move || {
                            let _in = meter.enter();
                            started.store(true, SeqCst);
                            let _ = gate.lock().unwrap().recv();
                        });
                        tokio::select! {
                            _ = job => panic!("the job ended before its release"),
                            _ = until_set(started) => {}
                        }
                    }))
                    .expect("the parent ran");
                    rt.spawn(async {})
                }
                Orphan::Permit => {
                    let permit = rt
                        .block_on(ORPH_A.submit(0, async { ORPH_A.acquire_owned(0).await }))
                        .expect("the parent ran")
                        .expect("a nested permit");
                    std::thread::spawn(move || {
                        let inside = meter.enter();
                        started.store(true, SeqCst);
                        let _ = gate.lock().unwrap().recv();
                        // The body ends before its slot goes.
                        drop(inside);
                        drop(permit);
                    });
                    rt.block_on(until_set(started));
                    rt.spawn(async {})
                }
            };
            assert!(started.load(SeqCst));
            let same = rt.spawn(ORPH_A.submit(0, async move {
                let _in = meter.enter();
            }));
            let other = rt.spawn(ORPH_B.submit(0, async move {
                let _in = meter.enter();
            }));
            std::thread::sleep(Duration::from_millis(300));
            let early = (meter.done(), meter.peak());
            release.send(()).unwrap();
            rt.block_on(orphan).unwrap();
            rt.block_on(same).unwrap().expect("the group's call ran");
            rt.block_on(other)
                .unwrap()
                .expect("the other group's call ran");
            assert_eq!(
                early,
                (0, 1),
                "{kind:?}: calls ran beside an orphan holding the only ceiling slot \
                 (done, most at once)"
            );
            assert_eq!(meter.done(), 3, "{kind:?}");
            assert!(meter.peak() <= 1, "{kind:?}: {} at once", meter.peak());
            assert_quiet(&ORPH_A.stats(), "a");
            assert_quiet(&ORPH_B.stats(), "b");
            assert_quiet(&pooled::ceiling::stats().unwrap(), "ceiling");
        }
        drop(rt);
        pooled::config::clear();
    });
}

static INFLIGHT: Group = Group::new(GroupSpec::new("r26::in_flight").size(1));

/// Promise (`Isolation`: "Calls already running or waiting in the instance
/// when the guard is dropped finish there ... under its limit and order";
/// "Isolating a group the test already isolated nests"; README reentrancy
/// rule: "only one nested call at a time uses a parent's slot; the others
/// wait, in the queue, for a free slot or for that slot to come back").
/// Attack: a group of 1 with three shared calls in flight (one running,
/// two waiting) in the test's runtime when it isolates the group; a call of
/// the instance joins three nested calls (one under the lent slot, two
/// waiting for it); a second isolation is made and dropped first, then the
/// first guard is dropped on another thread while the nested calls wait;
/// then more calls go to the shared pool. Counted from outside: the shared
/// pool's bodies never 2 at once, the instance's never 2 at once; every
/// call completes; the instance ends with `nested == 0` and both pools
/// quiet and accounted.
#[test]
fn guards_dropped_out_of_order_while_nested_calls_wait_for_the_lend() {
    let _turn = config_turn();
    within(BOUND, || {
        let rt = multi_thread();
        let shared: &'static Meter = Box::leak(Box::new(Meter::new()));
        let mine: &'static Meter = Box::leak(Box::new(Meter::new()));
        let open: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        async fn gated(meter: &'static Meter, open: &'static AtomicBool) {
            let _in = meter.enter();
            while !open.load(SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut before = Vec::new();
        for _ in 0..3 {
            before.push(rt.spawn(async move { INFLIGHT.submit(0, gated(shared, open)).await }));
        }
        let shared_pool = INFLIGHT.pool();
        rt.block_on(async {
            while shared_pool.stats().waiting < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let first = rt.block_on(async { INFLIGHT.isolate() });
        let instance = first.pool();
        let parent = rt.spawn(async move {
            INFLIGHT
                .submit(0, async move {
                    let (a, b, c) = tokio::join!(
                        INFLIGHT.submit(0, gated(mine, open)),
                        INFLIGHT.submit(0, gated(mine, open)),
                        INFLIGHT.submit(0, gated(mine, open)),
                    );
                    [a, b, c]
                })
                .await
        });
        rt.block_on(async {
            while instance.stats().nested < 1 || instance.stats().waiting < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let second = rt.block_on(async { INFLIGHT.isolate() });
        assert!(!std::ptr::eq(second.pool(), instance));
        drop(second);
        std::thread::spawn(move || drop(first)).join().unwrap();
        let mut after = Vec::new();
        for _ in 0..3 {
            after.push(rt.spawn(async move { INFLIGHT.submit(0, gated(shared, open)).await }));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(instance.stats().submitted(), 4, "{:?}", instance.stats());
        open.store(true, SeqCst);
        for t in before.into_iter().chain(after) {
            rt.block_on(t).unwrap().expect("a shared call ran");
        }
        let nested = rt
            .block_on(parent)
            .unwrap()
            .expect("the instance's call ran");
        assert!(nested.iter().all(Result::is_ok), "{nested:?}");
        assert_eq!((shared.done(), mine.done()), (6, 3));
        assert_eq!(shared.peak(), 1, "shared pool of 1");
        assert_eq!(mine.peak(), 1, "instance of 1");
        assert_quiet(&instance.stats(), "instance");
        assert_quiet(&shared_pool.stats(), "shared");
        drop(rt);
    });
}

static LATE: Group = Group::new(GroupSpec::new("r26::late_ceiling").size(4));

/// Promise (README, ceiling: "A ceiling that a load sets (where there was
/// none) gates the calls that start after it: calls already running hold
/// no ceiling slot and are not counted by it"; accounting: "A call is
/// submitted when it is first polled"; `ceiling::set`: "Set where there was
/// none, it gates the calls that start after it"). Attack: four calls of a
/// group of 4 are built (not polled: nothing has started, nothing is
/// submitted) while no ceiling is set; a load then sets `ceiling = 1`; only
/// then are the four first polled, joined. They start after the load, so
/// the ceiling of 1 must gate them: counted from outside, never more than
/// one body at once.
#[test]
#[ignore = "documented (README, the ceiling): a ceiling set where there was none gates the group calls made (their futures built) after it"]
fn calls_built_before_a_ceiling_is_set_and_started_after_are_gated_by_it() {
    let _turn = config_turn();
    within(BOUND, || {
        let meter: &'static Meter = Box::leak(Box::new(Meter::new()));
        let body = || async move {
            let _in = meter.enter();
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let rt = multi_thread();
        let calls: Vec<_> = (0..4).map(|_| LATE.submit(0, body())).collect();
        assert_eq!(LATE.stats().submitted(), 0, "nothing has started yet");
        pooled::config::load_str("r26.toml", "ceiling = 1\n").unwrap();
        assert_eq!(pooled::ceiling::limit(), Some(1));
        let outs = rt.block_on(futures::future::join_all(calls));
        assert!(outs.iter().all(Result::is_ok), "{outs:?}");
        let peak = meter.peak();
        assert_quiet(&LATE.stats(), "late");
        pooled::config::clear();
        assert_eq!(
            peak, 1,
            "{peak} calls ran at once under a ceiling of 1 (all started after it was set)"
        );
    });
}

static JOIN_A: Group = Group::new(GroupSpec::new("r26::join_a").size(1));
static JOIN_B: Group = Group::new(GroupSpec::new("r26::join_b").size(4));

/// Promise (README, ceiling: "nested calls follow the reentrancy rule for
/// the ceiling too (one at a time under their parent's ceiling slot)";
/// reentrancy rule: "only one nested call at a time uses a parent's slot;
/// the others wait, in the queue, for a free slot or for that slot to come
/// back"; a nested call is one "polled within the parent's poll — awaited,
/// joined, or a task of a runtime driven inside a sync call — or made on the
/// thread of sync or blocking work"). Attack: under a ceiling of 1, a call
/// of group A (async, sync, and a blocking job on the executor's thread)
/// joins four calls of group B (4 free slots) — the sync and blocking ones
/// by driving them with `block_on` on their thread. The four are nested
/// under A's one ceiling slot: counted from outside, never more than one B
/// body at once, every form; all complete and everything ends quiet.
#[test]
fn nested_calls_joined_under_a_ceiling_of_one_run_one_at_a_time_on_every_form() {
    let _turn = config_turn();
    within(BOUND, || {
        pooled::config::load_str("r26.toml", "ceiling = 1\n").unwrap();
        let rt = multi_thread();
        for form in ["async", "sync", "blocking"] {
            let meter: &'static Meter = Box::leak(Box::new(Meter::new()));
            let fan_out = move || {
                futures::future::join_all((0..4).map(move |_| {
                    JOIN_B.submit(0, async move {
                        let _in = meter.enter();
                        std::thread::sleep(Duration::from_millis(5));
                        futures::pending!();
                        std::thread::sleep(Duration::from_millis(5));
                    })
                }))
            };
            // `pending!` without a wake: wake ourselves so block_on and
            // tokio poll again.
            let outs: Vec<Result<(), Rejected>> = match form {
                "async" => rt
                    .block_on(async move { JOIN_A.submit(0, Wakes(Box::pin(fan_out()))).await })
                    .unwrap(),
                "sync" => rt
                    .block_on(async move {
                        tokio::task::spawn_blocking(move || {
                            JOIN_A.run(|| futures::executor::block_on(Wakes(Box::pin(fan_out()))))
                        })
                        .await
                    })
                    .unwrap()
                    .unwrap(),
                _ => rt
                    .block_on(async move {
                        JOIN_A
                            .submit_blocking(0, move || {
                                futures::executor::block_on(Wakes(Box::pin(fan_out())))
                            })
                            .await
                    })
                    .unwrap(),
            };
            assert!(outs.iter().all(Result::is_ok), "{form}: {outs:?}");
            assert_eq!(meter.done(), 4, "{form}");
            assert_eq!(
                meter.peak(),
                1,
                "{form}: {} nested calls ran at once under a ceiling of 1",
                meter.peak()
            );
            assert_quiet(&JOIN_A.stats(), form);
            assert_quiet(&JOIN_B.stats(), form);
            assert_quiet(&pooled::ceiling::stats().unwrap(), form);
        }
        drop(rt);
        pooled::config::clear();
    });
}

/// Polls its future, waking itself whenever it is pending (the bodies'
/// `pending!` does not wake).
struct Wakes<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for Wakes<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let out = self.0.as_mut().poll(cx);
        if out.is_pending() {
            cx.waker().wake_by_ref();
        }
        out
    }
}

static DIRECT_G: Group = Group::new(GroupSpec::new("r26::direct_g").size(2));
static DIRECT_H: Group = Group::new(GroupSpec::new("r26::direct_h").size(4));

/// Promise (README, configuration: "`ceiling = 64` # at most 64 calls
/// running across all groups"; `pooled::ceiling`: "While a ceiling is set,
/// every group call takes a ceiling slot before its group's slot"; the one
/// exemption documented is a call nested in a group call that started
/// before a load set the ceiling). Attack: with `ceiling = 1` in force from
/// the start, work submitted to a group's pool directly
/// (`Group::pool().submit`, which is not a group call and holds no ceiling
/// slot) joins four calls of another group (4 free slots). Those four are
/// group calls made after the ceiling was set, nested in no ceiling slot:
/// the ceiling of 1 must gate them. Counted from outside: never more than
/// one of their bodies at once.
#[test]
#[ignore = "documented (README, the ceiling): group calls made in work submitted to a group's pool directly are taken for calls nested in a call from before the ceiling, and are not gated"]
fn group_calls_inside_work_submitted_to_a_groups_pool_directly_are_gated_by_the_ceiling() {
    let _turn = config_turn();
    within(BOUND, || {
        pooled::config::load_str("r26.toml", "ceiling = 1\n").unwrap();
        let rt = multi_thread();
        let meter: &'static Meter = Box::leak(Box::new(Meter::new()));
        let fan_out = move || {
            futures::future::join_all((0..4).map(move |_| {
                DIRECT_H.submit(0, async move {
                    let _in = meter.enter();
                    tokio::time::sleep(Duration::from_millis(30)).await;
                })
            }))
        };
        let outs = rt
            .block_on(async move { DIRECT_G.pool().submit(async move { fan_out().await }).await })
            .expect("the direct call ran");
        assert!(outs.iter().all(Result::is_ok), "{outs:?}");
        let peak = meter.peak();
        // The control: the same fan-out from a group call of G.
        let control: &'static Meter = Box::leak(Box::new(Meter::new()));
        let outs = rt
            .block_on(async move {
                DIRECT_G
                    .submit(0, async move {
                        futures::future::join_all((0..4).map(move |_| {
                            DIRECT_H.submit(0, async move {
                                let _in = control.enter();
                                tokio::time::sleep(Duration::from_millis(30)).await;
                            })
                        }))
                        .await
                    })
                    .await
            })
            .expect("the group call ran");
        assert!(outs.iter().all(Result::is_ok), "{outs:?}");
        assert_eq!(control.peak(), 1, "the control");
        assert_quiet(&DIRECT_H.stats(), "h");
        drop(rt);
        pooled::config::clear();
        assert_eq!(
            peak, 1,
            "{peak} group calls ran at once under a ceiling of 1 (made in work submitted to a \
             group's pool directly)"
        );
    });
}
