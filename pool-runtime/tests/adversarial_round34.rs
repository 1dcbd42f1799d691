//! Hostile tests, round 34: the pool's run-time setters (`scale`, `resize`,
//! `set_bounds`, `pause`/`resume`, `set_max_waiting`,
//! `set_admission_timeout`, `set_sync_barging`, `set_autoscale_timing`)
//! racing every call form at once (async, weighted, judged, permits held
//! across awaits and released on other threads, `try_acquire`, blocking
//! closures, spawned calls, nested calls, sync callers, panicking bodies,
//! cancellation by timeouts) on fixed, queue-depth and adaptive pools of
//! every order, the limit checked from outside in windows where it holds
//! still and the metrics compared with the stats (`R34_SEEDS=<n>` hunts
//! over more seeds); the same under an application-wide ceiling across
//! three groups (own process); outputs and works dropped by the library
//! whose `Drop` calls the same pool of one, or panics; spawn aborts racing
//! the calls' end; deep nested chains changing form at every level; a
//! stream's pull bound under resizes; a clock and wakers that call into
//! the pool they serve; racing shutdowns; zero admission timeouts on every
//! form; no barging past a queued call as a slot appears; orphaned nested
//! calls; recursion across pools and groups (under a ceiling of one too);
//! sync and async callers racing a close.
//! Every wait is bounded by a watchdog.
//!
//! One broken promise found (ignored test, confirmed with `--ignored`):
//! `recursion_across_pools_through_another_pools_blocking_job_completes` —
//! a call into pool X made from a blocking job of another pool Y that X's
//! work waits for deadlocks a full X (the job's thread has no reentrancy
//! frame for X), where the same call through async hops, a sync hop or a
//! blocking job of X itself runs nested.

mod common;

use common::{assert_accounted, quiet_planned_panics, within, Meter};
use futures::FutureExt;
use pool_runtime::{
    AdaptiveSettings, AutoscaleTiming, Kind, Order, Pool, Rejected, ScalePolicy, Verdict,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(60);

/// xorshift64*: small, seedable.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A window in which the limit holds still at `limit`: a body that enters
/// while it is open and finds more than `limit` bodies inside is a breach.
#[derive(Default)]
struct Window {
    open: AtomicBool,
    limit: AtomicUsize,
    breach: Mutex<Option<String>>,
}

#[derive(Clone, Default)]
struct Books {
    meter: Meter,
    window: Arc<Window>,
    rejected: Arc<AtomicU64>,
    panicked: Arc<AtomicU64>,
    ok: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Books {
    fn enter(&self, what: &str) -> common::Inside {
        let inside = self.meter.enter();
        if self.window.open.load(SeqCst) {
            let now = self.meter.now();
            let limit = self.window.limit.load(SeqCst);
            if now > limit {
                let mut breach = self.window.breach.lock().unwrap();
                breach.get_or_insert_with(|| {
                    format!("{what}: {now} bodies inside with the limit held at {limit}")
                });
            }
        }
        inside
    }

    fn tally<T>(&self, outcome: Result<T, Rejected>) {
        match outcome {
            Ok(_) => self.ok.fetch_add(1, SeqCst),
            Err(_) => self.rejected.fetch_add(1, SeqCst),
        };
    }
}

/// A short async body, entered and left around a timer sleep.
async fn body(books: Books, what: &'static str, micros: u64) {
    let _inside = books.enter(what);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

fn storm_builder(
    kind: Kind,
    order: Order,
    adaptive: bool,
    name: String,
) -> pool_runtime::PoolBuilder {
    let mut builder = Pool::builder().kind(kind).order(order).name(name);
    if adaptive {
        builder = builder.scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT));
    }
    match kind {
        Kind::Fixed => builder.size(3),
        _ => builder
            .min(0)
            .max(6)
            .size(2)
            .autoscale_interval(Duration::from_millis(5))
            .autoscale_window(4),
    }
}

/// One call of a random form, tallied in `books`.
async fn one_call(pool: Pool, books: Books, mut rng: Rng) {
    let w = match rng.below(4) {
        0 => i64::MIN,
        1 => i64::MAX,
        _ => rng.below(3) as i64,
    };
    let us = 200 + rng.below(1500);
    let form = rng.below(10);
    let verdict = match rng.below(3) {
        0 => Verdict::Overload,
        1 => Verdict::Ignore,
        _ => Verdict::Success,
    };
    // (A spawned call outlives a dropped handle, so its later rejection
    // would go unseen: spawned calls are awaited to the end.)
    let cancel_after = if form != 4 && rng.chance(30) {
        Some(Duration::from_micros(rng.below(3000)))
    } else {
        None
    };
    let call = {
        let pool = pool.clone();
        let books = books.clone();
        async move {
            match form {
                0 => books.tally(
                    pool.submit_weighted(w, body(books.clone(), "submit", us))
                        .await,
                ),
                1 => {
                    let permit = pool.acquire_owned(w).await;
                    if let Ok(permit) = &permit {
                        let _ = permit;
                        body(books.clone(), "owned permit", us).await;
                    }
                    books.tally(permit.map(drop));
                }
                2 => {
                    let permit = pool.try_acquire();
                    if permit.is_ok() {
                        body(books.clone(), "try_acquire", us).await;
                    }
                    books.tally(permit.map(drop));
                }
                3 => {
                    let b = books.clone();
                    books.tally(
                        pool.submit_blocking_weighted(w, move || {
                            let _inside = b.enter("blocking");
                            std::thread::sleep(Duration::from_micros(us));
                        })
                        .await,
                    );
                }
                4 => match pool.spawn_weighted(w, body(books.clone(), "spawned", us)) {
                    Ok(handle) => books.tally(handle.await),
                    Err(e) => books.tally::<()>(Err(e)),
                },
                5 => {
                    // A parent that leaves the meter while its nested call runs.
                    let inner_pool = pool.clone();
                    let b = books.clone();
                    let outer = pool
                        .submit_weighted(w, async move {
                            {
                                let _inside = b.enter("parent");
                                tokio::time::sleep(Duration::from_micros(100)).await;
                            }
                            let inner = inner_pool.submit(body(b.clone(), "nested", us)).await;
                            b.tally(inner);
                            let _inside = b.enter("parent after");
                        })
                        .await;
                    books.tally(outer);
                }
                6 => {
                    let b = books.clone();
                    let out = AssertUnwindSafe(pool.submit_weighted(w, async move {
                        let _inside = b.enter("panicking");
                        tokio::time::sleep(Duration::from_micros(50)).await;
                        panic!("planned: a body that panics");
                    }))
                    .catch_unwind()
                    .await;
                    match out {
                        Ok(out) => books.tally::<()>(out),
                        Err(_) => {
                            books.panicked.fetch_add(1, SeqCst);
                        }
                    }
                }
                7 => {
                    let permit = pool.acquire_weighted(w).await;
                    if permit.is_ok() {
                        body(books.clone(), "permit", us).await;
                    }
                    books.tally(permit.map(drop));
                }
                8 => books.tally(
                    pool.submit_judged(w, body(books.clone(), "judged", us), move |_| verdict)
                        .await,
                ),
                _ => {
                    let permit = pool.acquire_owned(w).await;
                    if let Ok(mut permit) = permit {
                        body(books.clone(), "judged permit", us).await;
                        permit.set_verdict(verdict);
                        // Released on another thread.
                        std::thread::spawn(move || drop(permit)).join().unwrap();
                        books.tally::<()>(Ok(()));
                    } else {
                        books.tally(permit.map(drop));
                    }
                }
            }
        }
    };
    match cancel_after {
        Some(after) => {
            let _ = tokio::time::timeout(after, call).await;
        }
        None => call.await,
    }
}

/// A random steering step.
fn steer(pool: &Pool, kind: Kind, rng: &mut Rng) {
    match rng.below(11) {
        0 => {
            pool.scale(rng.below(7) as isize - 3);
        }
        1 => {
            pool.resize(rng.below(7) as usize);
        }
        2 if kind != Kind::Fixed => {
            let min = rng.below(3) as usize;
            let max = min + rng.below(5) as usize;
            let _ = pool.set_bounds(min, max.max(1));
        }
        3 => pool.pause(),
        4 | 5 => pool.resume(),
        6 => {
            let bound = match rng.below(3) {
                0 => None,
                _ => Some(rng.below(6) as usize),
            };
            pool.set_max_waiting(bound).unwrap();
        }
        7 => {
            let timeout = match rng.below(3) {
                0 => None,
                1 => Some(Duration::ZERO),
                _ => Some(Duration::from_micros(rng.below(4000))),
            };
            pool.set_admission_timeout(timeout);
        }
        8 => {
            let barging = match rng.below(3) {
                0 => None,
                1 => Some(Duration::ZERO),
                _ => Some(Duration::from_micros(rng.below(2000))),
            };
            pool.set_sync_barging(barging);
        }
        9 => {
            let timing = AutoscaleTiming {
                interval: Duration::from_micros(500 + rng.below(5000)),
                window: 1 + rng.below(8) as usize,
            };
            pool.set_autoscale_timing(timing).unwrap();
        }
        _ => {
            pool.set_max_waiting(None).unwrap();
            pool.set_admission_timeout(None);
        }
    }
}

/// Holds the limit at `k` (bounds too, for an autoscaled pool).
fn hold_at(pool: &Pool, kind: Kind, k: usize) {
    if kind != Kind::Fixed {
        let (min, _) = pool.bounds();
        pool.set_bounds(min.min(k), k).unwrap();
    }
    pool.resize(k);
    pool.resume();
}

fn wait_until(what: &str, pool: &Pool, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "stuck waiting for {what}: {:?}",
            pool.stats()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The storms' watchdog: longer for a hunt over many seeds.
fn storm_bound() -> Duration {
    match std::env::var_os("R34_SEEDS") {
        Some(_) => Duration::from_secs(3600),
        None => BOUND,
    }
}

/// The storms' seeds: `fixed`, or `R34_SEEDS=<n>` seeds from `R34_SEED_BASE`
/// (default 1) for a longer hunt.
fn seeds(fixed: &[u64]) -> Vec<u64> {
    match std::env::var("R34_SEEDS")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(n) => {
            let base = std::env::var("R34_SEED_BASE")
                .ok()
                .and_then(|b| b.parse::<u64>().ok())
                .unwrap_or(1);
            (base..base + n).collect()
        }
        None => fixed.to_vec(),
    }
}

fn storm(kind: Kind, order: Order, adaptive: bool, seed: u64) {
    quiet_planned_panics();
    let name = format!("r34-storm-{kind:?}-{order:?}-{adaptive}-{seed}");
    let builder = storm_builder(kind, order, adaptive, name.clone());
    #[cfg(feature = "metrics")]
    let capture: &'static common::Capture = Box::leak(Box::default());
    #[cfg(feature = "metrics")]
    let pool = metrics::with_local_recorder(capture, || builder.build().unwrap());
    #[cfg(not(feature = "metrics"))]
    let pool = builder.build().unwrap();
    let books = Books::default();
    let mut callers = Vec::new();
    // Two async threads, each with its own runtime and up to 6 calls at once.
    for t in 0..2u64 {
        let pool = pool.clone();
        let books = books.clone();
        callers.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut rng = Rng::new(seed * 31 + t);
                let mut tasks = Vec::new();
                while !books.stop.load(SeqCst) {
                    tasks.retain(|t: &tokio::task::JoinHandle<()>| !t.is_finished());
                    while tasks.len() < 6 {
                        let call_rng = Rng::new(rng.next());
                        tasks.push(tokio::spawn(one_call(
                            pool.clone(),
                            books.clone(),
                            call_rng,
                        )));
                    }
                    tokio::time::sleep(Duration::from_micros(300)).await;
                }
                for task in tasks {
                    task.await.unwrap();
                }
            });
        }));
    }
    // One sync caller, sometimes panicking.
    {
        let pool = pool.clone();
        let books = books.clone();
        callers.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed * 17 + 5);
            while !books.stop.load(SeqCst) {
                let panics = rng.chance(10);
                let us = 100 + rng.below(800);
                let w = rng.below(3) as i64;
                let b = books.clone();
                let out = catch_unwind(AssertUnwindSafe(|| {
                    pool.run_weighted(w, || {
                        let _inside = b.enter("sync");
                        std::thread::sleep(Duration::from_micros(us));
                        if panics {
                            panic!("planned: a sync body that panics");
                        }
                    })
                }));
                match out {
                    Ok(out) => books.tally(out),
                    Err(_) => {
                        books.panicked.fetch_add(1, SeqCst);
                    }
                }
            }
        }));
    }
    // The controller: chaos, then a window where the limit holds still.
    let mut rng = Rng::new(seed);
    for _round in 0..8 {
        let chaos = Instant::now();
        while chaos.elapsed() < Duration::from_millis(60) {
            steer(&pool, kind, &mut rng);
            std::thread::sleep(Duration::from_micros(300 + rng.below(1500)));
        }
        let k = 1 + rng.below(3) as usize;
        hold_at(&pool, kind, k);
        wait_until(
            "the running count to come down",
            &pool,
            Duration::from_secs(10),
            || pool.stats().running <= k && books.meter.now() <= k,
        );
        books.window.limit.store(k, SeqCst);
        books.window.open.store(true, SeqCst);
        std::thread::sleep(Duration::from_millis(40));
        books.window.open.store(false, SeqCst);
        if kind == Kind::Fixed {
            assert_eq!(pool.size(), k, "{:?}", pool.stats());
        }
    }
    // Settle: free intake, stop the callers, wait for the pool to drain.
    pool.set_max_waiting(None).unwrap();
    pool.set_admission_timeout(None);
    hold_at(&pool, kind, 4);
    books.stop.store(true, SeqCst);
    for caller in callers {
        caller.join().unwrap();
    }
    wait_until(
        "the pool to go idle",
        &pool,
        Duration::from_secs(10),
        || {
            let s = pool.stats();
            s.running == 0 && s.waiting == 0 && s.nested == 0
        },
    );
    if let Some(breach) = books.window.breach.lock().unwrap().take() {
        panic!("seed {seed}, {kind:?}/{order:?}: {breach}");
    }
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(books.meter.now(), 0);
    assert_eq!(
        s.rejected_total(),
        books.rejected.load(SeqCst),
        "rejections: {s:?}"
    );
    assert_eq!(s.panicked, books.panicked.load(SeqCst), "panics: {s:?}");
    // The metrics say what the stats say, gauges included.
    #[cfg(feature = "metrics")]
    {
        let counter = |outcome: &str, reason: Option<&str>| capture.calls(&name, outcome, reason);
        assert_eq!(
            counter("completed", None),
            s.completed - s.panicked,
            "{s:?}"
        );
        assert_eq!(counter("panicked", None), s.panicked, "{s:?}");
        assert_eq!(counter("cancelled", None), s.cancelled, "{s:?}");
        for reason in [
            Rejected::Paused,
            Rejected::Closed,
            Rejected::Full,
            Rejected::TimedOut,
        ] {
            assert_eq!(
                counter("rejected", Some(reason.as_str())),
                s.rejected_for(reason),
                "{reason:?}: {s:?}"
            );
        }
        assert_eq!(capture.gauge("pooled.running", &name), Some(0.0), "{s:?}");
        assert_eq!(capture.gauge("pooled.waiting", &name), Some(0.0), "{s:?}");
        assert_eq!(
            capture.gauge("pooled.limit", &name),
            Some(pool.size() as f64),
            "{s:?}"
        );
    }
    // No slot leaked or appeared: exactly 2 at once after holding at 2.
    if kind != Kind::Fixed {
        pool.set_bounds(2, 2).unwrap();
    }
    hold_at(&pool, kind, 2);
    let a = pool.try_acquire_owned(0).expect("first slot");
    let b = pool.try_acquire_owned(0).expect("second slot");
    assert_eq!(
        pool.try_acquire_owned(0).err(),
        Some(Rejected::Full),
        "{:?}",
        pool.stats()
    );
    drop((a, b));
    assert_accounted(&pool.stats());
}

#[test]
fn steering_storms_with_every_call_form_hold_each_still_limit_and_account_fixed() {
    within(storm_bound(), || {
        for seed in seeds(&[3401, 3411]) {
            for order in [Order::Fifo, Order::Lifo, Order::Priority] {
                storm(Kind::Fixed, order, false, seed);
            }
        }
    });
}

#[test]
fn steering_storms_with_every_call_form_hold_each_still_limit_and_account_autoscaled() {
    within(storm_bound(), || {
        for seed in seeds(&[3402]) {
            for order in [Order::Fifo, Order::Lifo, Order::Priority] {
                storm(Kind::Autoscale, order, false, seed);
            }
        }
    });
}

#[test]
fn steering_storms_with_every_call_form_hold_each_still_limit_and_account_adaptive() {
    within(storm_bound(), || {
        for seed in seeds(&[3403, 3413]) {
            for order in [Order::Fifo, Order::Lifo, Order::Priority] {
                storm(Kind::Autoscale, order, true, seed);
            }
        }
    });
}

// ---- drops that call the same pool of one ------------------------------------

/// A value whose `Drop` makes a sync call and an async call (driven by
/// `block_on`) into `pool`, each metered, and counts that it ended.
struct CallsBackOnDrop {
    pool: Pool,
    meter: Meter,
    ended: Arc<AtomicUsize>,
    sync_only: bool,
}

impl Drop for CallsBackOnDrop {
    fn drop(&mut self) {
        let meter = self.meter.clone();
        let out = self.pool.run(move || {
            let _inside = meter.enter();
            std::thread::sleep(Duration::from_millis(2));
        });
        assert!(out.is_ok(), "{out:?}");
        if !self.sync_only {
            let meter = self.meter.clone();
            let out = futures::executor::block_on(self.pool.submit(async move {
                let _inside = meter.enter();
                std::thread::sleep(Duration::from_millis(2));
            }));
            assert!(out.is_ok(), "{out:?}");
        }
        self.ended.fetch_add(1, SeqCst);
    }
}

/// A work future that completes at once and whose `Drop` calls back.
struct WorkCallingBackOnDrop {
    meter: Meter,
    back: Option<CallsBackOnDrop>,
}

impl std::future::Future for WorkCallingBackOnDrop {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let _inside = self.meter.enter();
        std::task::Poll::Ready(())
    }
}

impl Drop for WorkCallingBackOnDrop {
    fn drop(&mut self) {
        drop(self.back.take());
    }
}

/// A second caller keeps the single slot contended: it queues behind each
/// scenario and holds the slot for a while once admitted.
fn contender(pool: &Pool, meter: &Meter) -> std::thread::JoinHandle<()> {
    let pool = pool.clone();
    let meter = meter.clone();
    std::thread::spawn(move || {
        for _ in 0..20 {
            let m = meter.clone();
            let out = futures::executor::block_on(pool.submit(async move {
                let _inside = m.enter();
                std::thread::sleep(Duration::from_millis(1));
            }));
            assert!(out.is_ok(), "{out:?}");
        }
    })
}

#[test]
fn outputs_and_works_dropped_by_the_library_may_call_the_same_pool_of_one() {
    quiet_planned_panics();
    within(BOUND, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let ended = Arc::new(AtomicUsize::new(0));
        let back = |sync_only| CallsBackOnDrop {
            pool: pool.clone(),
            meter: meter.clone(),
            ended: ended.clone(),
            sync_only,
        };
        let rt = common::runtime();
        let mut expected = 0;

        // (a) A blocking call whose caller went away: its output is dropped
        // on the executor's thread.
        for _ in 0..5 {
            let busy = contender(&pool, &meter);
            let output = back(false);
            let m = meter.clone();
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            rt.block_on(async {
                let call = pool.submit_blocking(move || {
                    let _inside = m.enter();
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                    output
                });
                let mut call = Box::pin(call);
                tokio::select! {
                    _ = &mut call => {}
                    _ = async {
                        tokio::task::spawn_blocking(move || started_rx.recv().unwrap()).await.unwrap();
                    } => {}
                }
                drop(call);
            });
            expected += 1;
            busy.join().unwrap();
        }

        // (b) A detached spawned call: its output is dropped in its task.
        for _ in 0..5 {
            let busy = contender(&pool, &meter);
            let output = back(true);
            let m = meter.clone();
            rt.block_on(async {
                let handle = pool
                    .spawn(async move {
                        let _inside = m.enter();
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        output
                    })
                    .unwrap();
                drop(handle);
            });
            expected += 1;
            busy.join().unwrap();
        }

        // (c) A work future dropped once complete, through each form.
        for form in 0..3 {
            let busy = contender(&pool, &meter);
            let work = WorkCallingBackOnDrop {
                meter: meter.clone(),
                back: Some(back(form != 1)),
            };
            match form {
                0 => futures::executor::block_on(pool.submit(work)).unwrap(),
                1 => rt.block_on(pool.submit(work)).unwrap(),
                _ => rt.block_on(async { pool.spawn(work).unwrap().await.unwrap() }),
            }
            expected += 1;
            busy.join().unwrap();
        }

        // (d) A blocking closure that an executor drops unrun: its captures
        // are dropped with it.
        struct DropsJobs;
        impl pool_runtime::BlockingExecutor for DropsJobs {
            fn execute(&self, job: pool_runtime::BlockingJob) {
                drop(job);
            }
        }
        let dropping = Pool::builder()
            .size(1)
            .blocking_executor(Arc::new(DropsJobs))
            .build()
            .unwrap();
        for _ in 0..3 {
            let captured = CallsBackOnDrop {
                pool: dropping.clone(),
                meter: meter.clone(),
                ended: ended.clone(),
                sync_only: true,
            };
            let out = futures::executor::block_on(dropping.submit_blocking(move || {
                let _keep = &captured;
            }));
            assert_eq!(out, Err(Rejected::Closed));
            expected += 1;
        }

        rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(20);
            while ended.load(SeqCst) < expected && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert_eq!(ended.load(SeqCst), expected, "{:?}", pool.stats());
        assert!(
            meter.max() <= 1,
            "{} bodies at once on a pool of one",
            meter.max()
        );
        for p in [&pool, &dropping] {
            let s = p.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
            assert!(p.try_acquire().is_ok(), "the slot is free again: {s:?}");
        }
    });
}

// ---- the ceiling under a steering storm ------------------------------------------

mod ceiling_storm {
    use super::*;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec};

    static FIFO: Group = Group::new(GroupSpec::new("r34::storm::fifo").size(2));
    static LIFO: Group = Group::new(
        GroupSpec::new("r34::storm::lifo")
            .order(Order::Lifo)
            .size(2),
    );
    static PRIO: Group = Group::new(
        GroupSpec::new("r34::storm::prio")
            .kind(Kind::Autoscale)
            .order(Order::Priority)
            .min(1)
            .max(3)
            .autoscale_interval(Duration::from_millis(5))
            .autoscale_window(4),
    );
    register_group!(FIFO);
    register_group!(LIFO);
    register_group!(PRIO);

    const CEILING: usize = 3;
    /// The most slots each group is ever given.
    const CAP: [usize; 3] = [2, 2, 3];

    fn groups() -> [&'static Group; 3] {
        [&FIFO, &LIFO, &PRIO]
    }

    #[derive(Clone, Default)]
    struct Meters {
        all: Meter,
        each: [Meter; 3],
        stop: Arc<AtomicBool>,
        panicked: Arc<AtomicU64>,
    }

    impl Meters {
        fn enter(&self, g: usize) -> (common::Inside, common::Inside) {
            (self.all.enter(), self.each[g].enter())
        }
    }

    async fn body(m: Meters, g: usize, us: u64) {
        let _inside = m.enter(g);
        tokio::time::sleep(Duration::from_micros(us)).await;
    }

    /// One group call of a random form; nested calls go from a group to
    /// the next one only (FIFO -> LIFO -> PRIO), so the user's own call
    /// graph has no cycle.
    async fn one_call(m: Meters, mut rng: Rng) {
        let g = rng.below(3) as usize;
        let group = groups()[g];
        let w = match rng.below(4) {
            0 => i64::MIN,
            1 => i64::MAX,
            _ => rng.below(3) as i64,
        };
        let us = 200 + rng.below(1500);
        let form = rng.below(7);
        let cancel_after = (rng.chance(25)).then(|| Duration::from_micros(rng.below(3000)));
        let call = async move {
            match form {
                0 => {
                    let _ = group.submit(w, body(m.clone(), g, us)).await;
                }
                1 => {
                    if let Ok(permit) = group.acquire_owned(w).await {
                        body(m.clone(), g, us).await;
                        drop(permit);
                    }
                }
                2 => {
                    if let Ok(permit) = group.try_acquire_owned(w) {
                        body(m.clone(), g, us).await;
                        drop(permit);
                    }
                }
                3 => {
                    let m2 = m.clone();
                    let _ = group
                        .submit_blocking(w, move || {
                            let _inside = m2.enter(g);
                            std::thread::sleep(Duration::from_micros(us));
                        })
                        .await;
                }
                4 if g < 2 => {
                    let m2 = m.clone();
                    let _ = group
                        .submit(w, async move {
                            {
                                let _inside = m2.enter(g);
                                tokio::time::sleep(Duration::from_micros(100)).await;
                            }
                            let next = groups()[g + 1];
                            let _ = next.submit(w, body(m2.clone(), g + 1, us)).await;
                            let _inside = m2.enter(g);
                        })
                        .await;
                }
                5 => {
                    let m2 = m.clone();
                    let out = AssertUnwindSafe(group.submit(w, async move {
                        let _inside = m2.enter(g);
                        tokio::time::sleep(Duration::from_micros(50)).await;
                        panic!("planned: a group body that panics");
                    }))
                    .catch_unwind()
                    .await;
                    if out.is_err() {
                        m.panicked.fetch_add(1, SeqCst);
                    }
                }
                _ => {
                    let _ = group.submit(w, body(m.clone(), g, us)).await;
                }
            }
        };
        match cancel_after {
            Some(after) => {
                let _ = tokio::time::timeout(after, call).await;
            }
            None => call.await,
        }
    }

    fn steer(rng: &mut Rng) {
        let g = rng.below(3) as usize;
        let group = groups()[g];
        let pool = group.pool();
        match rng.below(8) {
            0 => {
                group.resize(rng.below(CAP[g] as u64 + 1) as usize);
            }
            1 => group.pause(),
            2 | 3 => group.resume(),
            4 => pool
                .set_max_waiting(match rng.below(3) {
                    0 => None,
                    _ => Some(rng.below(4) as usize),
                })
                .unwrap(),
            5 => pool.set_admission_timeout(match rng.below(3) {
                0 => None,
                1 => Some(Duration::ZERO),
                _ => Some(Duration::from_micros(rng.below(4000))),
            }),
            6 if g == 2 => {
                let min = rng.below(2) as usize;
                let _ = pool.set_bounds(min, (min + rng.below(3) as usize).clamp(1, CAP[g]));
            }
            _ => pool.set_sync_barging(match rng.below(2) {
                0 => None,
                _ => Some(Duration::from_micros(rng.below(2000))),
            }),
        }
    }

    fn scenario(seed: u64) {
        quiet_planned_panics();
        #[cfg(feature = "metrics")]
        let capture: &'static common::Capture = {
            let capture: &'static common::Capture = Box::leak(Box::default());
            metrics::set_global_recorder(capture).unwrap();
            capture
        };
        FIFO.run(|| ()).unwrap(); // the first use reads the environment
        assert_eq!(ceiling::limit(), Some(CEILING));
        let m = Meters::default();
        let mut callers = Vec::new();
        for t in 0..2u64 {
            let m = m.clone();
            callers.push(std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let mut rng = Rng::new(seed * 13 + t);
                    let mut tasks = Vec::new();
                    while !m.stop.load(SeqCst) {
                        tasks.retain(|t: &tokio::task::JoinHandle<()>| !t.is_finished());
                        while tasks.len() < 8 {
                            let r = Rng::new(rng.next());
                            tasks.push(tokio::spawn(one_call(m.clone(), r)));
                        }
                        tokio::time::sleep(Duration::from_micros(300)).await;
                    }
                    for task in tasks {
                        task.await.unwrap();
                    }
                });
            }));
        }
        for t in 0..2u64 {
            let m = m.clone();
            callers.push(std::thread::spawn(move || {
                let mut rng = Rng::new(seed * 7 + t);
                while !m.stop.load(SeqCst) {
                    let g = rng.below(3) as usize;
                    let us = 100 + rng.below(800);
                    let panics = rng.chance(5);
                    let m2 = m.clone();
                    let out = catch_unwind(AssertUnwindSafe(|| {
                        groups()[g].run_weighted(rng.below(3) as i64, || {
                            let _inside = m2.enter(g);
                            std::thread::sleep(Duration::from_micros(us));
                            if panics {
                                panic!("planned: a sync group body that panics");
                            }
                        })
                    }));
                    if out.is_err() {
                        m.panicked.fetch_add(1, SeqCst);
                    }
                }
            }));
        }
        let mut rng = Rng::new(seed);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            steer(&mut rng);
            std::thread::sleep(Duration::from_micros(300 + rng.below(1500)));
        }
        for (g, group) in groups().into_iter().enumerate() {
            group.pool().set_max_waiting(None).unwrap();
            group.pool().set_admission_timeout(None);
            if g == 2 {
                group.pool().set_bounds(1, CAP[g]).unwrap();
            }
            group.resize(CAP[g]);
            group.resume();
        }
        m.stop.store(true, SeqCst);
        for caller in callers {
            caller.join().unwrap();
        }
        let idle = || {
            groups().iter().all(|g| {
                let s = g.stats();
                s.running + s.waiting + s.nested == 0
            }) && ceiling::stats().unwrap().in_flight() == 0
        };
        let start = Instant::now();
        while !idle() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "stuck: ceiling {:?}, groups {:?}",
                ceiling::stats(),
                groups().map(|g| g.stats())
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            m.all.max() <= CEILING,
            "{} bodies at once under a ceiling of {CEILING}",
            m.all.max()
        );
        for (g, (cap, group)) in CAP.iter().zip(groups()).enumerate() {
            let most = m.each[g].max();
            assert!(most <= *cap, "group {g}: {most} at once, cap {cap}");
            assert_accounted(&group.stats());
        }
        #[cfg(feature = "metrics")]
        for group in groups() {
            let (name, s) = (group.name(), group.stats());
            let counter =
                |outcome: &str, reason: Option<&str>| capture.calls(name, outcome, reason);
            assert_eq!(
                counter("completed", None),
                s.completed - s.panicked,
                "{name}: {s:?}"
            );
            assert_eq!(counter("panicked", None), s.panicked, "{name}: {s:?}");
            assert_eq!(counter("cancelled", None), s.cancelled, "{name}: {s:?}");
            for reason in [
                Rejected::Paused,
                Rejected::Closed,
                Rejected::Full,
                Rejected::TimedOut,
            ] {
                assert_eq!(
                    counter("rejected", Some(reason.as_str())),
                    s.rejected_for(reason),
                    "{name} {reason:?}: {s:?}"
                );
            }
            assert_eq!(
                capture.gauge("pooled.running", name),
                Some(0.0),
                "{name}: {s:?}"
            );
            assert_eq!(
                capture.gauge("pooled.waiting", name),
                Some(0.0),
                "{name}: {s:?}"
            );
            assert_eq!(
                capture.gauge("pooled.limit", name),
                Some(s.size as f64),
                "{name}: {s:?}"
            );
        }
        let panicked: u64 = groups().iter().map(|g| g.stats().panicked).sum();
        assert_eq!(panicked, m.panicked.load(SeqCst));
        let c = ceiling::stats().unwrap();
        assert_accounted(&c);
        #[cfg(feature = "metrics")]
        {
            let name = "(ceiling)";
            let counter =
                |outcome: &str, reason: Option<&str>| capture.calls(name, outcome, reason);
            assert_eq!(
                counter("completed", None),
                c.completed - c.panicked,
                "{c:?}"
            );
            assert_eq!(counter("cancelled", None), c.cancelled, "{c:?}");
            for reason in [
                Rejected::Paused,
                Rejected::Closed,
                Rejected::Full,
                Rejected::TimedOut,
            ] {
                assert_eq!(
                    counter("rejected", Some(reason.as_str())),
                    c.rejected_for(reason),
                    "ceiling {reason:?}: {c:?}"
                );
            }
            assert_eq!(capture.gauge("pooled.running", name), Some(0.0), "{c:?}");
            assert_eq!(capture.gauge("pooled.waiting", name), Some(0.0), "{c:?}");
            assert_eq!(
                capture.gauge("pooled.limit", name),
                Some(CEILING as f64),
                "{c:?}"
            );
        }
        // The ceiling lost no slot: exactly CEILING group permits at once.
        let held: Vec<_> = (0..CEILING)
            .map(|i| {
                groups()[i % 2]
                    .try_acquire_owned(0)
                    .expect("a free ceiling slot")
            })
            .collect();
        assert!(PRIO.try_acquire_owned(0).is_err(), "{:?}", ceiling::stats());
        drop(held);
        assert!(PRIO.try_acquire_owned(0).is_ok());
    }

    #[test]
    fn a_steering_storm_under_the_ceiling_keeps_it_and_every_group_limit() {
        common::in_own_process(
            "ceiling_storm::a_steering_storm_under_the_ceiling_keeps_it_and_every_group_limit",
            &[("POOLED_CEILING", "3")],
            || within(BOUND, || scenario(3434)),
        );
    }
}

// ---- spawned calls aborted while they end -----------------------------------------

/// `SpawnHandle::abort` racing the call's own end, on every pool: a
/// handle yields the outcome of a call that finished (counted completed,
/// or panicked) or `Closed` for one it cancelled (counted cancelled), and
/// the pool's counters equal the handles' tally exactly.
#[test]
fn spawn_aborts_racing_the_calls_end_are_counted_as_the_handles_say() {
    quiet_planned_panics();
    within(BOUND, || {
        let rt = common::runtime();
        for (kind, order) in [
            (Kind::Fixed, Order::Fifo),
            (Kind::Fixed, Order::Lifo),
            (Kind::Autoscale, Order::Priority),
        ] {
            let builder = Pool::builder().kind(kind).order(order);
            let pool = match kind {
                Kind::Fixed => builder.size(2),
                _ => builder
                    .min(1)
                    .max(3)
                    .autoscale_interval(Duration::from_millis(2)),
            }
            .build()
            .unwrap();
            let meter = Meter::default();
            let (ok, closed, panicked, rejected) = rt.block_on(async {
                let mut rng = Rng::new(34);
                let mut handles = Vec::new();
                for i in 0..1500u64 {
                    let m = meter.clone();
                    let spins = rng.below(4);
                    let panics = rng.chance(10);
                    let w = rng.below(5) as i64 - 2;
                    let handle = pool
                        .spawn_weighted(w, async move {
                            let _inside = m.enter();
                            for _ in 0..spins {
                                tokio::task::yield_now().await;
                            }
                            if panics {
                                panic!("planned: a spawned body that panics");
                            }
                            i
                        })
                        .unwrap();
                    let abort_after = rng.below(40);
                    handles.push(tokio::spawn(async move {
                        for _ in 0..abort_after {
                            tokio::task::yield_now().await;
                        }
                        handle.abort();
                        AssertUnwindSafe(handle).catch_unwind().await
                    }));
                    if i % 4 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                let (mut ok, mut closed, mut panicked, mut rejected) = (0u64, 0u64, 0u64, 0u64);
                for h in handles {
                    match h.await.unwrap() {
                        Ok(Ok(_)) => ok += 1,
                        Ok(Err(Rejected::Closed)) => closed += 1,
                        Ok(Err(_)) => rejected += 1,
                        Err(_) => panicked += 1,
                    }
                }
                (ok, closed, panicked, rejected)
            });
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
            assert_eq!(rejected, 0, "{s:?}");
            assert!(
                ok > 0 && closed > 0 && panicked > 0,
                "{ok} {closed} {panicked}: the race was not run"
            );
            assert_eq!(
                s.completed,
                ok + panicked,
                "{kind:?}/{order:?}: ok {ok}, panicked {panicked}: {s:?}"
            );
            assert_eq!(s.panicked, panicked, "{s:?}");
            assert_eq!(s.cancelled, closed, "{kind:?}/{order:?}: {s:?}");
            let cap = if kind == Kind::Fixed { 2 } else { 3 };
            assert!(meter.max() <= cap, "{} at once, cap {cap}", meter.max());
            assert_eq!(meter.now(), 0);
        }
    });
}

// ---- deep chains of nested calls through every form ----------------------------------

/// One level of a chain of nested calls on `pool`, alternating forms:
/// an async call, a blocking closure (which goes on synchronously), a sync
/// call, and back to async through `block_on` on the blocking thread.
fn chain_async(
    pool: Pool,
    meter: Meter,
    depth: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            let _inside = meter.enter();
            tokio::task::yield_now().await;
            return 0;
        }
        if depth % 2 == 0 {
            let p = pool.clone();
            pool.submit(async move { chain_async(p, meter, depth - 1).await + 1 })
                .await
                .expect("a nested async call")
        } else {
            let p = pool.clone();
            pool.submit_blocking(move || chain_sync(p, meter, depth - 1) + 1)
                .await
                .expect("a nested blocking call")
        }
    })
}

fn chain_sync(pool: Pool, meter: Meter, depth: usize) -> usize {
    if depth == 0 {
        let _inside = meter.enter();
        return 0;
    }
    if depth % 3 == 0 {
        // Back to async on this (blocking) thread.
        futures::executor::block_on(chain_async(pool, meter, depth - 1)) + 1
    } else {
        let p = pool.clone();
        pool.run(move || chain_sync(p, meter, depth - 1) + 1)
            .expect("a nested sync call")
    }
}

/// Deep chains of nested calls that change form at every level (async,
/// blocking, sync, async through `block_on` on a blocking thread), deeper
/// than a thread's 32 spare lends, on a pool of one that other callers
/// contend for: each chain runs under its top call's slot, never with
/// another caller's body, and the books settle.
#[test]
fn deep_chains_changing_form_at_every_level_run_under_one_slot() {
    within(BOUND, || {
        let rt = common::runtime();
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let pool = Pool::builder().order(order).size(1).build().unwrap();
            let meter = Meter::default();
            let stop = Arc::new(AtomicBool::new(false));
            let contenders: Vec<_> = (0..2)
                .map(|_| {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        while !stop.load(SeqCst) {
                            let m = meter.clone();
                            pool.run(move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(200));
                            })
                            .unwrap();
                        }
                    })
                })
                .collect();
            for depth in [1, 2, 3, 7, 33, 70] {
                let got = rt.block_on(chain_async(pool.clone(), meter.clone(), depth));
                assert_eq!(got, depth);
                let sync = {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    std::thread::spawn(move || chain_sync(pool, meter, depth))
                        .join()
                        .unwrap()
                };
                assert_eq!(sync, depth);
            }
            stop.store(true, SeqCst);
            for c in contenders {
                c.join().unwrap();
            }
            assert!(
                meter.max() <= 1,
                "{:?}: {} bodies at once on one slot",
                order,
                meter.max()
            );
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
            assert!(pool.try_acquire().is_ok());
        }
    });
}

// ---- outputs whose Drop panics where the library drops them -----------------------

/// An output whose `Drop` panics (a planned panic) unless already unwinding.
struct PanicsOnDrop(Arc<AtomicUsize>);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
        if !std::thread::panicking() {
            panic!("planned: an output whose drop panics");
        }
    }
}

/// Outputs the library drops itself (a blocking call's caller gone, a
/// detached spawned call, a finished spawned call's handle dropped, a
/// stream adapter dropped with outputs held back) and whose `Drop` panics
/// cost no slot: the pool of two admits two calls afterwards, and the
/// books settle.
#[test]
fn outputs_whose_drop_panics_where_the_library_drops_them_cost_no_slot() {
    quiet_planned_panics();
    within(BOUND, || {
        let rt = common::runtime();
        let pool = Pool::fixed(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut expected = 0;

        // A blocking call whose caller went away.
        for _ in 0..4 {
            let d = dropped.clone();
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            rt.block_on(async {
                let call = pool.submit_blocking(move || {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                    PanicsOnDrop(d)
                });
                let mut call = Box::pin(call);
                tokio::select! {
                    _ = &mut call => {}
                    _ = tokio::task::spawn_blocking(move || started_rx.recv().unwrap()) => {}
                }
                drop(call);
            });
            expected += 1;
        }
        // A detached spawned call, and a finished one whose handle is dropped.
        for detach_early in [true, false] {
            for _ in 0..4 {
                let d = dropped.clone();
                rt.block_on(async {
                    let handle = pool
                        .spawn(async move {
                            tokio::task::yield_now().await;
                            PanicsOnDrop(d)
                        })
                        .unwrap();
                    if !detach_early {
                        while !handle.is_finished() {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        // (Where the panic surfaces is tokio's business.)
                        let _ = catch_unwind(AssertUnwindSafe(|| drop(handle)));
                    }
                });
                expected += 1;
            }
        }
        #[cfg(feature = "stream")]
        {
            use futures::StreamExt;
            use pool_runtime::PooledStreamExt;
            // An ordered adapter holding finished outputs behind a slow
            // first item, dropped.
            let d = dropped.clone();
            let out = catch_unwind(AssertUnwindSafe(|| {
                rt.block_on(async {
                    let gate = Arc::new(AtomicBool::new(false));
                    let items = (0..4).map(|i| {
                        let d = d.clone();
                        let gate = gate.clone();
                        async move {
                            if i == 0 {
                                while !gate.load(SeqCst) {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                            }
                            PanicsOnDrop(d)
                        }
                    });
                    let mut adapter = futures::stream::iter(items).pooled_ordered(&pool);
                    // Poll until the later items have finished, held back.
                    let _ = tokio::time::timeout(Duration::from_millis(50), adapter.next()).await;
                    drop(adapter);
                })
            }));
            assert!(
                out.is_err(),
                "a held output's drop panic reaches the adapter's dropper"
            );
            expected += 1; // at least the first held output was dropped
        }

        rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(10);
            while dropped.load(SeqCst) < expected && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Whatever was still running ends.
            let deadline = Instant::now() + Duration::from_secs(10);
            while pool.stats().in_flight() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert!(
            dropped.load(SeqCst) >= expected,
            "{} of {expected}",
            dropped.load(SeqCst)
        );
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        let a = pool.try_acquire_owned(0).expect("a slot");
        let b = pool.try_acquire_owned(0).expect("the second slot");
        assert!(pool.try_acquire().is_err());
        drop((a, b));
    });
}

// ---- a stream's pull bound while its consumer resizes the pool --------------------------

/// The stream adapters hold at most `max(1, 2 × size)` of the stream's items
/// (pulled and not yet yielded, held-back outputs included), `size` being
/// the pool's size when they pull, while the consumer resizes the pool
/// between items (to 0 and back too), pauses and resumes it; at most
/// `size` items' bodies run at once, and every item is yielded once.
#[cfg(feature = "stream")]
#[test]
fn stream_pull_bound_follows_resizes_made_between_items() {
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;
    within(BOUND, || {
        let rt = common::runtime();
        for (ordered, order) in [
            (false, Order::Fifo),
            (true, Order::Fifo),
            (false, Order::Lifo),
            (true, Order::Priority),
        ] {
            let pool = Pool::builder().order(order).size(3).build().unwrap();
            let meter = Meter::default();
            let pulled = Arc::new(AtomicUsize::new(0));
            let yielded = Arc::new(AtomicUsize::new(0));
            let breach: Arc<Mutex<Option<String>>> = Arc::default();
            const N: usize = 400;
            rt.block_on(async {
                let mut rng = Rng::new(3434 + ordered as u64);
                let durations: Vec<u64> = (0..N).map(|_| rng.below(600)).collect();
                let items = {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    let pulled = pulled.clone();
                    let yielded = yielded.clone();
                    let breach = breach.clone();
                    futures::stream::iter(0..N).map(move |i| {
                        let alive = pulled.fetch_add(1, SeqCst) + 1 - yielded.load(SeqCst);
                        let bound = (2 * pool.size()).max(1);
                        if alive > bound {
                            breach.lock().unwrap().get_or_insert_with(|| {
                                format!("item {i}: {alive} held, bound {bound}")
                            });
                        }
                        let meter = meter.clone();
                        let us = durations[i];
                        async move {
                            let _inside = meter.enter();
                            tokio::time::sleep(Duration::from_micros(us)).await;
                            i
                        }
                    })
                };
                let mut seen = vec![false; N];
                let mut max_size = 3;
                let mut next_expected = 0;
                let weights = |_: &_| 0i64;
                let mut adapter: std::pin::Pin<
                    Box<dyn futures::Stream<Item = Result<usize, Rejected>> + Send + '_>,
                > = if ordered {
                    Box::pin(items.pooled_ordered_weighted(&pool, weights))
                } else {
                    Box::pin(items.pooled_unordered(&pool))
                };
                loop {
                    let next = tokio::time::timeout(Duration::from_millis(5), adapter.next()).await;
                    match next {
                        Ok(Some(out)) => {
                            let i = out.expect("no call is turned away");
                            yielded.fetch_add(1, SeqCst);
                            assert!(!seen[i], "item {i} yielded twice");
                            seen[i] = true;
                            if ordered {
                                assert_eq!(i, next_expected, "input order");
                                next_expected += 1;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            // Stalled (at size 0, say): grow again.
                            pool.resize(1 + rng.below(4) as usize);
                        }
                    }
                    match rng.below(10) {
                        0 => {
                            pool.resize(rng.below(5) as usize);
                        }
                        1 => {
                            pool.scale(rng.below(3) as isize - 1);
                        }
                        _ => {}
                    }
                    max_size = max_size.max(pool.size());
                }
                assert!(seen.iter().all(|s| *s), "every item yielded");
                assert!(
                    meter.max() <= max_size,
                    "{} bodies, largest size {max_size}",
                    meter.max()
                );
            });
            if let Some(b) = breach.lock().unwrap().take() {
                panic!("ordered {ordered}, {order:?}: {b}");
            }
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
            assert_eq!(s.completed, N as u64, "{s:?}");
        }
    });
}

// ---- a clock that calls back into its own pool ------------------------------------

/// A clock whose `now` (and `uses_tokio_time`) call into the pool it
/// times: read its stats and size, take and release a slot if one is free,
/// re-set its size, waiting bound and sync barging. One level deep per
/// thread (a call it makes reads the clock again, which then just reads
/// the time).
struct ReenteringClock {
    start: Instant,
    pool: std::sync::OnceLock<Pool>,
    reads: AtomicU64,
    reentered: AtomicU64,
    taken: AtomicU64,
}

thread_local! {
    static IN_CLOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl ReenteringClock {
    fn reenter(&self) {
        let Some(pool) = self.pool.get() else { return };
        if IN_CLOCK.with(|c| c.replace(true)) {
            return;
        }
        self.reentered.fetch_add(1, SeqCst);
        let n = self.reads.load(SeqCst);
        let _ = pool.stats();
        let size = pool.size();
        match n % 5 {
            0 => {
                if let Ok(permit) = pool.try_acquire() {
                    self.taken.fetch_add(1, SeqCst);
                    drop(permit);
                }
            }
            1 => {
                pool.resize(size);
            }
            2 => pool.set_max_waiting(None).unwrap(),
            3 => pool.set_sync_barging(if n % 2 == 0 {
                None
            } else {
                Some(Duration::from_micros(300))
            }),
            _ => {
                let _ = pool.bounds();
                let _ = pool.is_paused();
            }
        }
        IN_CLOCK.with(|c| c.set(false));
    }
}

/// The pool's handle on the clock.
struct ClockHandle(Arc<ReenteringClock>);

impl pool_runtime::Clock for ClockHandle {
    fn now(&self) -> Duration {
        self.0.reads.fetch_add(1, SeqCst);
        self.0.reenter();
        self.0.start.elapsed()
    }

    fn uses_tokio_time(&self) -> bool {
        self.0.reenter();
        false
    }
}

/// A pool's clock is the user's code, never run under the pool's lock
/// (README, lock order): one that calls into its own pool on every read —
/// taking and releasing slots, resizing, re-setting bounds — neither
/// deadlocks it nor takes it past its limit, on every kind and policy,
/// with sync, async, blocking and timed callers.
#[test]
fn a_clock_that_calls_into_its_own_pool_on_every_read() {
    within(BOUND, || {
        let rt = common::runtime();
        for (kind, adaptive) in [
            (Kind::Fixed, false),
            (Kind::Autoscale, false),
            (Kind::Autoscale, true),
        ] {
            let clock = Arc::new(ReenteringClock {
                start: Instant::now(),
                pool: std::sync::OnceLock::new(),
                reads: AtomicU64::new(0),
                reentered: AtomicU64::new(0),
                taken: AtomicU64::new(0),
            });
            let mut builder = Pool::builder()
                .kind(kind)
                .order(Order::Priority)
                .admission_timeout(Duration::from_millis(300))
                .clock(ClockHandle(clock.clone()));
            builder = match kind {
                Kind::Fixed => builder.size(3),
                _ => builder
                    .min(1)
                    .max(3)
                    .autoscale_interval(Duration::from_millis(2))
                    .autoscale_window(2),
            };
            if adaptive {
                builder = builder.scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT));
            }
            let pool = builder.build().unwrap();
            clock.pool.set(pool.clone()).ok().unwrap();
            let meter = Meter::default();
            let sync_callers: Vec<_> = (0..2)
                .map(|t| {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    std::thread::spawn(move || {
                        for i in 0..150 {
                            let m = meter.clone();
                            let _ = pool.run_weighted((i + t) % 3, move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(100));
                            });
                        }
                    })
                })
                .collect();
            rt.block_on(async {
                let mut tasks = Vec::new();
                for i in 0..300i64 {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    tasks.push(tokio::spawn(async move {
                        match i % 3 {
                            0 => {
                                let _ = pool.submit_weighted(i % 4, meter.body(1)).await;
                            }
                            1 => {
                                let m = meter.clone();
                                let _ = pool
                                    .submit_blocking(move || {
                                        let _inside = m.enter();
                                        std::thread::sleep(Duration::from_micros(200));
                                    })
                                    .await;
                            }
                            _ => {
                                let _ = tokio::time::timeout(
                                    Duration::from_micros(500),
                                    pool.submit_judged(0, meter.body(1), |_| Verdict::Overload),
                                )
                                .await;
                            }
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
            for c in sync_callers {
                c.join().unwrap();
            }
            let start = Instant::now();
            while pool.stats().in_flight() > 0 && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(2));
            }
            assert!(clock.reentered.load(SeqCst) > 0, "the clock was read");
            assert!(
                meter.max() <= 3,
                "{kind:?} adaptive {adaptive}: {} at once",
                meter.max()
            );
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- wakers that steer the pool they wait on ------------------------------------------

/// What a steering waker acts on, and how often it did.
struct Steers {
    pool: Pool,
    acts: AtomicU64,
}

thread_local! {
    static IN_WAKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Steers {
    /// Takes and releases a free slot, re-sets the size, reads the stats:
    /// the pool's mutators from inside a waker's method (one level deep).
    fn act(&self, what: u64) {
        if IN_WAKER.with(|c| c.replace(true)) {
            return;
        }
        let n = self.acts.fetch_add(1, SeqCst);
        let _ = self.pool.stats();
        match (n + what) % 4 {
            0 => drop(self.pool.try_acquire()),
            1 => {
                let size = self.pool.size();
                self.pool.resize(size);
            }
            2 => {
                // (Scaling by 0 and re-setting the timeout: the limit holds.)
                self.pool.scale(0);
                self.pool.set_admission_timeout(None);
            }
            _ => self.pool.set_max_waiting(None).unwrap(),
        }
        IN_WAKER.with(|c| c.set(false));
    }
}

fn steering_waker(steers: &'static Steers) -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, wake, wake_by_ref, drop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        let s = unsafe { &*(data as *const Steers) };
        s.act(0);
        RawWaker::new(data, vtable())
    }
    unsafe fn wake(data: *const ()) {
        let s = unsafe { &*(data as *const Steers) };
        s.act(1);
        s.act(2);
    }
    unsafe fn wake_by_ref(data: *const ()) {
        let s = unsafe { &*(data as *const Steers) };
        s.act(1);
    }
    unsafe fn drop(data: *const ()) {
        let s = unsafe { &*(data as *const Steers) };
        s.act(3);
    }
    unsafe {
        std::task::Waker::from_raw(RawWaker::new(
            steers as *const Steers as *const (),
            vtable(),
        ))
    }
}

/// Wakers whose `clone`, `wake` and `drop` take and release slots of the
/// pool they wait on, resize it and re-set its bound (README, lock order:
/// the pool's lock is never held while a waker runs): waiting calls of
/// every form polled with them, released into, cancelled and aborted,
/// never deadlock the pool, never run past its limit, and settle its books.
#[test]
fn wakers_that_steer_the_pool_they_wait_on_lose_nothing() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    within(BOUND, || {
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let pool = Pool::builder().order(order).size(2).build().unwrap();
            let steers: &'static Steers = Box::leak(Box::new(Steers {
                pool: pool.clone(),
                acts: AtomicU64::new(0),
            }));
            let waker = steering_waker(steers);
            let meter = Meter::default();
            let meter = &meter;
            let pool: &Pool = &pool;
            let mut rng = Rng::new(34 + order as u64);
            type Call<'a> = Pin<Box<dyn Future<Output = bool> + 'a>>;
            let make = |i: u64, rng: &mut Rng| -> Call<'_> {
                let m = meter.clone();
                let w = rng.below(3) as i64;
                let spins = rng.below(6);
                match i % 4 {
                    0 => Box::pin(async move {
                        pool.submit_weighted(w, async move {
                            let _inside = m.enter();
                            for _ in 0..spins {
                                common::yield_now().await;
                            }
                        })
                        .await
                        .is_ok()
                    }),
                    1 => Box::pin(async move {
                        match pool.acquire_weighted(w).await {
                            Ok(p) => {
                                let _inside = m.enter();
                                for _ in 0..spins {
                                    common::yield_now().await;
                                }
                                drop(p);
                                true
                            }
                            Err(_) => false,
                        }
                    }),
                    2 => Box::pin(async move {
                        pool.submit_judged(
                            w,
                            async move {
                                let _inside = m.enter();
                            },
                            |_| Verdict::Success,
                        )
                        .await
                        .is_ok()
                    }),
                    _ => Box::pin(async move {
                        match pool.acquire_owned(w).await {
                            Ok(p) => {
                                let _inside = m.enter();
                                drop(p);
                                true
                            }
                            Err(_) => false,
                        }
                    }),
                }
            };
            let mut calls: Vec<Call<'_>> = Vec::new();
            let mut i = 0u64;
            for step in 0..3000u32 {
                match rng.below(10) {
                    0..=4 => {
                        for _ in 0..3 {
                            calls.push(make(i, &mut rng));
                            i += 1;
                        }
                    }
                    5 if !calls.is_empty() => {
                        let k = rng.below(calls.len() as u64) as usize;
                        drop(calls.swap_remove(k));
                    }
                    _ => {}
                }
                if step >= 2500 && pool.stats().waiting > 0 {
                    pool.abort();
                }
                // Poll everything once with the steering waker.
                let mut cx = Context::from_waker(&waker);
                calls.retain_mut(|c| match c.as_mut().poll(&mut cx) {
                    Poll::Ready(ok) => {
                        assert!(
                            ok || pool.is_closed(),
                            "turned away while open: {:?}",
                            pool.stats()
                        );
                        false
                    }
                    Poll::Pending => true,
                });
                let s = pool.stats();
                assert!(s.running <= 2, "{s:?}");
                if pool.is_closed() {
                    break;
                }
            }
            // Drain: poll until nothing is left (aborted calls end at once).
            pool.abort();
            let mut rounds = 0;
            while !calls.is_empty() {
                let mut cx = Context::from_waker(&waker);
                calls.retain_mut(|c| matches!(c.as_mut().poll(&mut cx), Poll::Pending));
                rounds += 1;
                assert!(rounds < 10_000, "calls never end: {:?}", pool.stats());
            }
            assert!(steers.acts.load(SeqCst) > 0);
            assert!(
                pool.stats().rejected_for(Rejected::Closed) > 0,
                "the abort turned calls away: {:?}",
                pool.stats()
            );
            assert!(meter.max() <= 2, "{order:?}: {} at once", meter.max());
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- shutdowns racing each other ----------------------------------------------------

/// Several shutdowns with different deadlines racing on one pool, with
/// sync, async and blocking callers waiting and running: each returns by
/// its deadline (plus slack); the ones that time out together turn away
/// exactly the calls that were waiting (each counted once, whichever
/// shutdown turned it away), the rest report `Ok` once the pool drained;
/// the limit holds throughout and the books settle.
#[test]
fn shutdowns_racing_each_other_turn_each_waiter_away_once() {
    within(BOUND, || {
        let rt = common::runtime();
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let pool = Pool::builder().order(order).size(2).build().unwrap();
            let meter = Meter::default();
            let turned_away_seen = Arc::new(AtomicU64::new(0));
            // Two sync callers parked behind the runners.
            let sync_callers: Vec<_> = (0..2)
                .map(|_| {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    let seen = turned_away_seen.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(20));
                        let out = pool.run(|| {
                            let _inside = meter.enter();
                            std::thread::sleep(Duration::from_millis(100));
                        });
                        if out == Err(Rejected::Closed) {
                            seen.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            let reports = rt.block_on(async {
                let mut calls = Vec::new();
                for i in 0..12i64 {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    let seen = turned_away_seen.clone();
                    calls.push(tokio::spawn(async move {
                        let out = if i % 3 == 2 {
                            let m = meter.clone();
                            pool.submit_blocking_weighted(i % 4, move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_millis(150));
                            })
                            .await
                        } else {
                            pool.submit_weighted(i % 4, meter.clone().body(150)).await
                        };
                        if out == Err(Rejected::Closed) {
                            seen.fetch_add(1, SeqCst);
                        }
                    }));
                }
                tokio::time::sleep(Duration::from_millis(60)).await;
                let deadlines = [1u64, 30, 30, 5_000, 0];
                let mut shutdowns = Vec::new();
                for ms in deadlines {
                    let pool = pool.clone();
                    shutdowns.push(tokio::spawn(async move {
                        let started = Instant::now();
                        let out = pool.shutdown(Some(Duration::from_millis(ms))).await;
                        (ms, started.elapsed(), out)
                    }));
                }
                let mut reports = Vec::new();
                for s in shutdowns {
                    reports.push(s.await.unwrap());
                }
                for c in calls {
                    c.await.unwrap();
                }
                reports
            });
            for c in sync_callers {
                c.join().unwrap();
            }
            let mut turned_away = 0;
            for (ms, took, out) in &reports {
                assert!(
                    *took < Duration::from_millis(ms + 1_000),
                    "{order:?}: a shutdown of {ms} ms took {took:?}"
                );
                if let Err(e) = out {
                    turned_away += e.turned_away as u64;
                    assert_eq!(e.waiting, 0, "{e:?}");
                }
            }
            let long = reports.iter().find(|r| r.0 == 5_000).unwrap();
            assert!(
                long.2.is_ok() || long.2.as_ref().unwrap_err().turned_away > 0,
                "{reports:?}"
            );
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
            assert_eq!(
                s.rejected_for(Rejected::Closed),
                turned_away_seen.load(SeqCst),
                "{s:?}"
            );
            assert_eq!(
                turned_away,
                turned_away_seen.load(SeqCst),
                "{order:?}: the shutdowns' reports count each turned-away call once: {reports:?}"
            );
            assert!(turned_away > 0, "calls were waiting at the first deadline");
            assert!(meter.max() <= 2, "{} at once", meter.max());
        }
    });
}

// ---- nested-call shapes under cancellation, on a limit that never moves ----------------

/// A nested call's future, boxed, as returned out of its parent's work.
type Orphan = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Rejected>> + Send>>;

/// One top-level call of a random nested shape on `pool`: joined nested
/// siblings, a nested call polled once in the parent and returned out of
/// it (an orphan that outlives its parent), a nested blocking job, a
/// nested sync call on a blocking thread, nested permits; each body
/// metered, the parent leaving the meter while its nested calls run.
async fn nested_shape(pool: Pool, meter: Meter, mut rng: Rng) {
    let shape = rng.below(5);
    let us = 100 + rng.below(800);
    let w = rng.below(3) as i64;
    let leaf = {
        let meter = meter.clone();
        move |us: u64| {
            let meter = meter.clone();
            async move {
                let _inside = meter.enter();
                tokio::time::sleep(Duration::from_micros(us)).await;
            }
        }
    };
    let p = pool.clone();
    let m = meter.clone();
    let out = pool
        .submit_weighted(w, async move {
            {
                let _inside = m.enter();
                tokio::task::yield_now().await;
            }
            match shape {
                0 => {
                    let (a, b, c) = futures::join!(
                        p.submit(leaf(us)),
                        p.submit_weighted(1, leaf(us / 2)),
                        p.submit(leaf(us / 3))
                    );
                    let _ = (a, b, c);
                    None
                }
                1 => {
                    // Polled once here, finished after the parent ended.
                    let p2 = p.clone();
                    let mut orphan: Orphan =
                        Box::pin(async move { p2.submit(leaf(us)).await.map(drop) });
                    let _ = futures::poll!(orphan.as_mut());
                    Some(orphan)
                }
                2 => {
                    let m2 = m.clone();
                    let p2 = p.clone();
                    let _ = p
                        .submit_blocking(move || {
                            let _ = p2.run(|| {
                                let _inside = m2.enter();
                                std::thread::sleep(Duration::from_micros(us));
                            });
                        })
                        .await;
                    None
                }
                3 => {
                    if let Ok(permit) = p.acquire_weighted(w).await {
                        leaf(us).await;
                        drop(permit);
                    }
                    None
                }
                _ => {
                    let _ = futures::join!(
                        p.submit(async {
                            let _ = p.submit(leaf(us)).await;
                        }),
                        p.submit(leaf(us))
                    );
                    None
                }
            }
        })
        .await;
    if let Ok(Some(orphan)) = out {
        let _ = orphan.await;
    }
}

/// Every nested shape at once on a fixed pool of two whose limit never
/// moves, with a third of the calls cancelled by timeouts at any await:
/// never more than two bodies at once (counted continuously, from
/// outside), then an abort and a drain that leave nothing behind.
#[test]
fn nested_shapes_cancelled_anywhere_never_pass_a_limit_that_never_moves() {
    within(BOUND, || {
        let rt = common::runtime();
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let pool = Pool::builder().order(order).size(2).build().unwrap();
            let meter = Meter::default();
            rt.block_on(async {
                let mut rng = Rng::new(3434 + order as u64);
                let mut tasks = Vec::new();
                for _ in 0..600 {
                    let r = Rng::new(rng.next());
                    let call = nested_shape(pool.clone(), meter.clone(), r);
                    let cancel = rng
                        .chance(33)
                        .then(|| Duration::from_micros(rng.below(3000)));
                    tasks.push(tokio::spawn(async move {
                        match cancel {
                            Some(after) => {
                                let _ = tokio::time::timeout(after, call).await;
                            }
                            None => call.await,
                        }
                    }));
                    if tasks.len() % 16 == 0 {
                        tokio::time::sleep(Duration::from_micros(500)).await;
                    }
                }
                // Many of them run their course; the rest meet the abort.
                tokio::time::sleep(Duration::from_millis(150)).await;
                assert!(pool.stats().waiting > 0, "calls wait for the abort");
                pool.abort();
                for t in tasks {
                    t.await.unwrap();
                }
                tokio::time::timeout(Duration::from_secs(10), pool.drained())
                    .await
                    .expect("the pool drains");
            });
            assert!(
                meter.max() <= 2,
                "{order:?}: {} bodies at once on two slots",
                meter.max()
            );
            assert_eq!(meter.now(), 0);
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- zero admission timeouts on every form ----------------------------------------

/// A zero admission timeout on a full pool turns every waiting form away
/// with `TimedOut`, each counted once (spawned calls either at once or
/// through their handle), while calls that find a free slot run; nested
/// calls waiting for a lent slot time out too, and the parent goes on.
#[test]
fn zero_admission_timeouts_turn_every_form_away_once() {
    within(BOUND, || {
        let rt = common::runtime();
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let pool = Pool::builder()
                .order(order)
                .size(1)
                .admission_timeout(Duration::ZERO)
                .build()
                .unwrap();
            let holder = pool.try_acquire_owned(0).unwrap();
            let mut timed_out = 0u64;
            rt.block_on(async {
                for i in 0..60i64 {
                    let w = i % 3 - 1;
                    let outs: Vec<Result<(), Rejected>> = vec![
                        pool.submit_weighted(w, async {}).await,
                        pool.acquire_owned(w).await.map(drop),
                        pool.acquire_weighted(w).await.map(drop),
                        pool.submit_blocking_weighted(w, || ()).await,
                        pool.submit_judged(w, async {}, |_| Verdict::Success).await,
                        match pool.spawn_weighted(w, async {}) {
                            Ok(handle) => handle.await,
                            Err(e) => Err(e),
                        },
                    ];
                    for out in outs {
                        assert_eq!(out, Err(Rejected::TimedOut), "{order:?}");
                        timed_out += 1;
                    }
                }
            });
            for _ in 0..20 {
                assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
                timed_out += 1;
            }
            pool.set_sync_barging(Some(Duration::from_secs(5)));
            for _ in 0..5 {
                let started = Instant::now();
                assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "the timeout bounds the barging wait"
                );
                timed_out += 1;
            }
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::TimedOut), timed_out, "{s:?}");
            assert_eq!(s.rejected_total(), timed_out, "{s:?}");
            drop(holder);
            // Free: every form runs, and a nested sibling waiting for the
            // lent slot times out while its parent goes on.
            let ran = rt.block_on(async {
                let (a, b) = pool
                    .submit(async {
                        futures::join!(
                            pool.submit(async {
                                tokio::time::sleep(Duration::from_millis(5)).await
                            }),
                            pool.submit(async {})
                        )
                    })
                    .await
                    .unwrap();
                assert_eq!(a, Ok(()));
                assert_eq!(
                    b,
                    Err(Rejected::TimedOut),
                    "the sibling waited for the lend"
                );
                pool.submit_blocking(|| 7).await
            });
            assert_eq!(ran, Ok(7));
            assert_eq!(pool.run(|| 8), Ok(8));
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- no barging past a queued call as a slot appears ----------------------------------

/// A queued call is owed the next slot however it appears — a release, a
/// `resize` or `scale` up, bounds raised under an autoscaled pool — and a
/// thread spinning on `try_acquire` (and, with sync barging on, on `run`)
/// at that moment never takes it: whenever the spinner wins a slot, the
/// queued call has been admitted already.
#[test]
fn a_slot_that_appears_goes_to_the_queued_call_not_a_spinning_newcomer() {
    within(BOUND, || {
        for (variant, barging) in [
            ("release", false),
            ("resize", false),
            ("scale", false),
            ("bounds", false),
            ("release", true),
            ("resize", true),
        ] {
            let mut overtaken = 0;
            for _ in 0..150 {
                let pool = if variant == "bounds" {
                    Pool::builder()
                        .kind(Kind::Autoscale)
                        .min(1)
                        .max(1)
                        .size(1)
                        .build()
                        .unwrap()
                } else {
                    Pool::fixed(1)
                };
                if barging {
                    pool.set_sync_barging(Some(Duration::from_millis(1)));
                }
                let holder = pool.try_acquire_owned(0).unwrap();
                let mut queued = common::Task::new(pool.acquire_owned(0));
                queued.assert_pending();
                // For the spinner's calls only (the queued call waits on).
                pool.set_admission_timeout(Some(Duration::from_millis(3)));
                let go = Arc::new(AtomicBool::new(false));
                let spinner = {
                    let pool = pool.clone();
                    let go = go.clone();
                    std::thread::spawn(move || {
                        while !go.load(SeqCst) {
                            std::hint::spin_loop();
                        }
                        // Whether a slot taken here found the queued call
                        // still waiting (it was overtaken).
                        let until = Instant::now() + Duration::from_millis(2);
                        while Instant::now() < until {
                            if barging {
                                if let Ok(overtook) = pool.run(|| pool.stats().waiting > 0) {
                                    return overtook;
                                }
                            }
                            if let Ok(p) = pool.try_acquire_owned(0) {
                                let overtook = pool.stats().waiting > 0;
                                drop(p);
                                return overtook;
                            }
                        }
                        false
                    })
                };
                go.store(true, SeqCst);
                let mut holder = Some(holder);
                match variant {
                    "release" => drop(holder.take()),
                    "resize" => {
                        pool.resize(2);
                    }
                    "scale" => {
                        pool.scale(1);
                    }
                    _ => {
                        pool.set_bounds(1, 2).unwrap();
                        pool.resize(2);
                    }
                }
                if spinner.join().unwrap() {
                    overtaken += 1;
                }
                let admitted = matches!(queued.poll(), std::task::Poll::Ready(Ok(_)));
                assert!(
                    admitted,
                    "{variant}: the queued call was admitted: {:?}",
                    pool.stats()
                );
                drop(holder);
            }
            assert_eq!(
                overtaken, 0,
                "{variant} (barging {barging}): a newcomer took the queued call's slot"
            );
        }
    });
}

// ---- rejections known at once are returned at once --------------------------------------

/// `spawn` returns the rejections known at once (paused, closed, full)
/// itself, never through the handle (`Pool::spawn` docs), and a blocking
/// call turned away never runs its closure; extreme scale deltas clamp;
/// every refusal is counted once.
#[test]
fn rejections_known_at_once_are_returned_at_once_on_every_form() {
    within(BOUND, || {
        let rt = common::runtime();
        rt.block_on(async {
            for order in [Order::Fifo, Order::Lifo, Order::Priority] {
                let pool = Pool::builder()
                    .order(order)
                    .size(1)
                    .max_waiting(0)
                    .build()
                    .unwrap();
                let ran = Arc::new(AtomicUsize::new(0));
                let mut refused = 0u64;
                let holder = pool.try_acquire_owned(0).unwrap();
                // Full (no waiting allowed), then paused, then closed.
                for (step, expected) in [
                    ("full", Rejected::Full),
                    ("paused", Rejected::Paused),
                    ("closed", Rejected::Closed),
                ] {
                    match step {
                        "paused" => pool.pause(),
                        "closed" => pool.close(),
                        _ => {}
                    }
                    let r = ran.clone();
                    match pool.spawn_weighted(i64::MIN, async move {
                        r.fetch_add(1, SeqCst);
                    }) {
                        Err(e) => assert_eq!(e, expected, "{order:?} {step}"),
                        Ok(_) => panic!("{order:?} {step}: spawn returned a handle"),
                    }
                    let r = ran.clone();
                    assert_eq!(
                        pool.submit_blocking(move || {
                            r.fetch_add(1, SeqCst);
                        })
                        .await,
                        Err(expected)
                    );
                    let r = ran.clone();
                    assert_eq!(pool.run(|| r.fetch_add(1, SeqCst)).map(drop), Err(expected));
                    assert_eq!(
                        pool.try_acquire().map(drop),
                        Err(expected),
                        "{order:?} {step}"
                    );
                    assert_eq!(pool.acquire_owned(i64::MAX).await.map(drop), Err(expected));
                    refused += 5;
                }
                assert_eq!(ran.load(SeqCst), 0, "no refused work ran");
                let s = pool.stats();
                assert_eq!(s.rejected_total(), refused, "{s:?}");
                // Extreme deltas clamp, on a closed pool too.
                assert_eq!(pool.scale(isize::MAX), pool_runtime::MAX_SLOTS);
                assert_eq!(pool.scale(isize::MIN), 0);
                assert_eq!(pool.resize(usize::MAX), pool_runtime::MAX_SLOTS);
                drop(holder);
                tokio::time::timeout(Duration::from_secs(5), pool.drained())
                    .await
                    .expect("drained");
                assert_accounted(&pool.stats());
            }
            // An autoscaled pool clamps to its bounds.
            let auto = Pool::builder()
                .kind(Kind::Autoscale)
                .min(2)
                .max(5)
                .build()
                .unwrap();
            assert_eq!(auto.scale(isize::MIN), 2);
            assert_eq!(auto.scale(isize::MAX), 5);
            assert_eq!(auto.resize(usize::MAX), 5);
            assert_eq!(auto.resize(0), 2);
            assert_eq!(auto.set_bounds(0, pool_runtime::MAX_SLOTS), Ok(2));
            assert_eq!(auto.resize(usize::MAX), pool_runtime::MAX_SLOTS);
            assert!(auto.set_bounds(0, pool_runtime::MAX_SLOTS + 1).is_err());
            assert_eq!(
                auto.size(),
                pool_runtime::MAX_SLOTS,
                "a refused change changes nothing"
            );
            assert_eq!(auto.submit(async { 3 }).await, Ok(3));
        });
    });
}

// ---- an orphaned nested call's slot, exactly ------------------------------------------

/// A nested call returned out of its parent's work (admitted under the
/// parent's slot, still running when the parent ends) keeps that slot busy
/// until it ends (README, reentrancy rule), in every order: the pool turns
/// newcomers away or queues them meanwhile, the books balance at every
/// step (the orphan counted once, its parent completed), and the slot
/// goes to the queued call when the orphan completes or is dropped.
#[test]
#[allow(clippy::async_yields_async)] // the orphan is returned out on purpose
fn an_orphaned_nested_call_keeps_the_slot_exactly_until_it_ends() {
    within(BOUND, || {
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            for finish in [true, false] {
                let pool = Pool::builder().order(order).size(1).build().unwrap();
                let (gate, open) = common::gate();
                let gate = std::sync::Mutex::new(Some(gate));
                let orphan = futures::executor::block_on(pool.submit(async {
                    let mut nested = Box::pin(pool.submit(gate.lock().unwrap().take().unwrap()));
                    assert!(futures::poll!(nested.as_mut()).is_pending());
                    nested
                }))
                .unwrap();
                let s = pool.stats();
                // (Its parent gone, the orphan holds the slot alone: counted
                // running or nested, once.)
                assert_eq!(
                    (s.running + s.nested, s.completed),
                    (1, 1),
                    "{order:?}: {s:?}"
                );
                assert_accounted(&s);
                assert_eq!(
                    pool.try_acquire().err(),
                    Some(Rejected::Full),
                    "the orphan's slot is busy"
                );
                let mut queued = common::Task::new(pool.acquire_weighted(i64::MIN));
                queued.assert_pending();
                assert_accounted(&pool.stats());
                let mut orphan = common::Task::new(orphan);
                orphan.assert_pending();
                queued.assert_pending();
                if finish {
                    open.store(true, SeqCst);
                    assert_eq!(orphan.assert_ready(), Ok(()));
                } else {
                    drop(orphan);
                }
                assert!(
                    queued.is_woken(),
                    "{order:?}: the slot's next holder is woken"
                );
                let permit = queued.assert_ready().expect("admitted");
                let s = pool.stats();
                assert_eq!(
                    (s.running, s.nested, s.waiting),
                    (1, 0, 0),
                    "{order:?}: {s:?}"
                );
                assert_accounted(&s);
                drop(permit);
                let s = pool.stats();
                assert_eq!(s.cancelled, u64::from(!finish), "{s:?}");
                assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
                assert_accounted(&s);
            }
        }
    });
}

// ---- recursion across pools through blocking and sync hops ----------------------------

/// Runs `chain` on a thread of its own, `Some(result)` if it ends within
/// `limit`, `None` if it hangs (the thread is left behind).
fn ends_within<T: Send + 'static>(
    limit: Duration,
    chain: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(chain());
    });
    rx.recv_timeout(limit).ok()
}

/// A body counted from outside.
fn counted(meter: &Meter, v: u32) -> u32 {
    let _inside = meter.enter();
    std::thread::sleep(Duration::from_micros(200));
    v
}

/// Calls that go from one pool of one slot to another and back — async
/// hops (`X → Y → X`), a sync hop on a blocking job's thread (`X blocking →
/// Y sync → X sync`), a blocking job of the same pool (`X → X blocking → X
/// sync`) — complete: each inner call into a pool is nested in work that
/// holds that pool's slot (README, reentrancy rule: nested calls never
/// deadlock a full pool), with contenders on both pools that never run
/// alongside a chain's leaf.
#[test]
fn recursion_across_pools_through_async_and_sync_hops_completes() {
    within(BOUND, || {
        let x = Pool::fixed(1);
        let y = Pool::fixed(1);
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let contenders: Vec<_> = [x.clone(), y.clone()]
            .into_iter()
            .map(|p| {
                let meter = meter.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        p.run(|| counted(&meter, 0)).unwrap();
                    }
                })
            })
            .collect();
        let rt = common::runtime();
        for _ in 0..5 {
            rt.block_on(async {
                let (x2, y2, m) = (x.clone(), y.clone(), meter.clone());
                let a = x
                    .submit_blocking(move || y2.run(|| x2.run(|| counted(&m, 1))))
                    .await;
                assert_eq!(a, Ok(Ok(Ok(1))));
                let b = x
                    .submit(async {
                        y.submit(async { x.submit(async { counted(&meter, 2) }).await })
                            .await
                    })
                    .await;
                assert_eq!(b, Ok(Ok(Ok(2))));
                let (x2, m) = (x.clone(), meter.clone());
                let c = x
                    .submit(async { x.submit_blocking(move || x2.run(|| counted(&m, 3))).await })
                    .await;
                assert_eq!(c, Ok(Ok(Ok(3))));
            });
            let d = x.run(|| y.run(|| x.run(|| counted(&meter, 4))));
            assert_eq!(d, Ok(Ok(Ok(4))));
        }
        stop.store(true, SeqCst);
        for c in contenders {
            c.join().unwrap();
        }
        assert!(
            meter.max() <= 2,
            "{} bodies at once on two pools of one",
            meter.max()
        );
        for p in [&x, &y] {
            let s = p.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// BUG. Promise (README, "How it works", reentrancy rule): "A call into a
/// pool from inside work that holds one of its slots (a nested call: polled
/// within the parent's poll — awaited, joined, .. — or made on the thread of
/// sync or blocking work) may run under its parent's slot instead of
/// waiting for a second one, so nested calls never deadlock a full pool";
/// DESIGN §3: "must not deadlock (the classic nested-call trap of every
/// worker pool)", "whatever the call graph".
///
/// Attack: the work of a call of pool X (one slot) waits for a blocking
/// call of another pool Y (awaited in async work, or through `block_on` in
/// a sync call's closure, or through a Y call nested in X's work), whose
/// closure calls X again (sync `run`, or an async call driven by
/// `block_on` on the job's thread). The closure runs inside X's call (the
/// X call cannot end before it), exactly as in the chains of the test
/// above that complete (`X → Y → X` by async hops, `X blocking → Y sync →
/// X sync`, `X → X blocking → X sync`). All four chains here hang.
///
/// What happens: a deadlock. The blocking job's thread gets a reentrancy
/// frame for Y only (`OwnedSlot::run` in `call/blocking.rs` enters
/// `nested::enter(&self.core, .., &under, ..)` with Y's core and the lend
/// Y's call was itself nested under, which is `None` since Y's call is not
/// nested in Y); X's frame, on the awaiting thread, is not carried over. So
/// the inner X call is taken for a top-level call and waits for X's only
/// slot, which its own ancestor holds while it waits for this job: neither
/// ever ends. (Through a blocking job of X itself, `under` is X's lend, and
/// the same inner call runs nested.)
///
/// Suggested fix: when a blocking call is admitted, take the caller
/// thread's whole frame stack along (each enclosing call's pool and lend,
/// marked off-thread as `under` already is), and push it under the job's
/// own frame on the executor's thread, as isolation already carries its
/// scope into blocking jobs ("wherever that work runs").
#[test]
fn recursion_across_pools_through_another_pools_blocking_job_completes() {
    type Chain = fn() -> Result<u32, Rejected>;
    let chains: [(&str, Chain); 4] = [
        ("X async -> Y blocking -> X sync", || {
            let (x, y) = (Pool::fixed(1), Pool::fixed(1));
            let x2 = x.clone();
            let out = common::runtime()
                .block_on(x.submit(async { y.submit_blocking(move || x2.run(|| 1)).await }));
            out.and_then(|r| r).and_then(|r| r)
        }),
        ("X async -> Y blocking -> X async (block_on)", || {
            let (x, y) = (Pool::fixed(1), Pool::fixed(1));
            let x2 = x.clone();
            let out = common::runtime().block_on(x.submit(async {
                y.submit_blocking(move || futures::executor::block_on(x2.submit(async { 2 })))
                    .await
            }));
            out.and_then(|r| r).and_then(|r| r)
        }),
        ("X sync -> Y blocking (block_on) -> X sync", || {
            let (x, y) = (Pool::fixed(1), Pool::fixed(1));
            let x2 = x.clone();
            let out =
                x.run(|| futures::executor::block_on(y.submit_blocking(move || x2.run(|| 3))));
            out.and_then(|r| r).and_then(|r| r)
        }),
        ("X async -> Y async -> Y blocking -> X sync", || {
            let (x, y) = (Pool::fixed(1), Pool::fixed(1));
            let x2 = x.clone();
            let out = common::runtime().block_on(x.submit(async {
                y.submit(async { y.submit_blocking(move || x2.run(|| 4)).await })
                    .await
            }));
            out.and_then(|r| r).and_then(|r| r).and_then(|r| r)
        }),
    ];
    let mut hung = Vec::new();
    for (name, chain) in chains {
        match ends_within(Duration::from_secs(4), chain) {
            Some(out) => assert!(out.is_ok(), "{name}: {out:?}"),
            None => hung.push(name),
        }
    }
    assert!(
        hung.is_empty(),
        "deadlocked (no answer within 4 s): {hung:?}"
    );
}

/// The fix for the test above lends X's slot to a call made in Y's
/// blocking closure, on the job's thread. While that call holds it, a sync
/// X call nested in the same X work on the caller's own thread waits for
/// it: it must park until the job's call gives the slot back (which it does
/// on its own thread), not be refused as a wait for its own thread, nor run
/// beside it. One X body at a time, counted from outside.
#[test]
fn a_lend_held_on_a_blocking_jobs_thread_is_waited_for_on_the_lenders_thread() {
    let out = ends_within(Duration::from_secs(10), || {
        let (x, y) = (Pool::fixed(1), Pool::fixed(1));
        let meter = Meter::default();
        let (x2, m2) = (x.clone(), meter.clone());
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let rt = common::runtime();
        let out = rt.block_on(x.submit(async {
            let job = y.submit_blocking(move || {
                x2.run(|| {
                    let _in = m2.enter();
                    entered_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(200));
                    1
                })
            });
            let beside = async {
                // The job's X call holds the lend now.
                tokio::task::block_in_place(|| entered_rx.recv().unwrap());
                tokio::task::block_in_place(|| {
                    x.run(|| {
                        let _in = meter.enter();
                        2
                    })
                })
            };
            let (job, beside) = futures::join!(job, beside);
            (job, beside, meter.max())
        }));
        let stats = x.stats();
        assert_eq!((stats.running, stats.nested), (0, 0), "{stats:?}");
        assert_accounted(&stats);
        out
    });
    let (job, beside, max) = out.expect("no deadlock").expect("the X call ran");
    assert_eq!(job, Ok(Ok(1)));
    assert_eq!(beside, Ok(2));
    assert_eq!(max, 1, "X bodies at once under one slot");
}

/// An inherited lend keeps nothing once the call it stands for is over: a
/// blocking job whose caller (an X call of X's one slot) was dropped and
/// ended calls X after that; the slot is free or another caller's by then,
/// so the job's X call waits its turn like any other call, never beside
/// the slot's new holder.
#[test]
fn an_inherited_lend_is_no_slot_once_its_call_ended() {
    let out = ends_within(Duration::from_secs(10), || {
        let (x, y) = (Pool::fixed(1), Pool::fixed(1));
        let meter = Meter::default();
        let (x2, m2) = (x.clone(), meter.clone());
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let rt = common::runtime();
        // The X call starts the job and is dropped (its work with it).
        let started = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(100),
                x.submit(async {
                    let _ = y
                        .submit_blocking(move || {
                            go_rx.recv().unwrap();
                            let out = x2.run(|| {
                                let _in = m2.enter();
                                std::thread::sleep(Duration::from_millis(50));
                                7
                            });
                            done_tx.send(out).unwrap();
                        })
                        .await;
                }),
            )
            .await
        });
        assert!(
            started.is_err(),
            "the X call was cut off waiting for its job"
        );
        // Its slot is free: another caller holds it while the job calls X.
        let held = x.try_acquire().expect("the dropped call's slot is free");
        let inside = meter.enter();
        go_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let early = done_rx.try_recv().ok();
        drop(inside);
        drop(held);
        let late = done_rx.recv_timeout(Duration::from_secs(5)).ok();
        (early, late, meter.max())
    });
    let (early, late, max) = out.expect("no deadlock");
    assert_eq!(early, None, "the job's X call ran beside the slot's holder");
    assert_eq!(late, Some(Ok(7)));
    assert_eq!(max, 1);
}

mod ceiling_hops {
    use super::*;
    use pool_runtime::{register_group, Group, GroupSpec};

    static X: Group = Group::new(GroupSpec::new("r34::hops::x").size(1));
    static Y: Group = Group::new(GroupSpec::new("r34::hops::y").size(1));
    register_group!(X);
    register_group!(Y);

    /// The chains that complete across pools complete across groups under
    /// an application-wide ceiling of one too (README: nested calls follow
    /// the reentrancy rule for the ceiling, one at a time under their
    /// parent's ceiling slot), with contenders on both groups: never more
    /// than one body at once, and the books settle.
    #[test]
    fn recursion_across_groups_under_a_ceiling_of_one_completes() {
        common::in_own_process(
            "ceiling_hops::recursion_across_groups_under_a_ceiling_of_one_completes",
            &[("POOLED_CEILING", "1")],
            || {
                within(Duration::from_secs(25), || {
                    X.run(|| ()).unwrap(); // the first use reads the environment
                    assert_eq!(pool_runtime::ceiling::limit(), Some(1));
                    let meter = Meter::default();
                    let stop = Arc::new(AtomicBool::new(false));
                    let contenders: Vec<_> = [&X, &Y]
                        .into_iter()
                        .map(|g| {
                            let meter = meter.clone();
                            let stop = stop.clone();
                            std::thread::spawn(move || {
                                while !stop.load(SeqCst) {
                                    g.run(|| counted(&meter, 0)).unwrap();
                                }
                            })
                        })
                        .collect();
                    let rt = common::runtime();
                    for _ in 0..5 {
                        rt.block_on(async {
                            let m = meter.clone();
                            let a = X
                                .submit_blocking(0, move || Y.run(|| X.run(|| counted(&m, 1))))
                                .await;
                            assert_eq!(a, Ok(Ok(Ok(1))));
                            let b = X
                                .submit(0, async {
                                    Y.submit(0, async {
                                        X.submit(0, async { counted(&meter, 2) }).await
                                    })
                                    .await
                                })
                                .await;
                            assert_eq!(b, Ok(Ok(Ok(2))));
                            let m = meter.clone();
                            let c = X
                                .submit(0, async {
                                    X.submit_blocking(0, move || X.run(|| counted(&m, 3))).await
                                })
                                .await;
                            assert_eq!(c, Ok(Ok(Ok(3))));
                        });
                        let d = X.run(|| Y.run(|| X.run(|| counted(&meter, 4))));
                        assert_eq!(d, Ok(Ok(Ok(4))));
                    }
                    stop.store(true, SeqCst);
                    for c in contenders {
                        c.join().unwrap();
                    }
                    assert!(
                        meter.max() <= 1,
                        "{} bodies at once under a ceiling of one",
                        meter.max()
                    );
                    for g in [&X, &Y] {
                        let s = g.stats();
                        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                        assert_accounted(&s);
                    }
                    let c = pool_runtime::ceiling::stats().unwrap();
                    assert_eq!(c.in_flight(), 0, "{c:?}");
                    assert_accounted(&c);
                });
            },
        );
    }
}

// ---- sync and async callers racing a close ---------------------------------------------

/// Sync callers (barging and not) and async callers hammer a pool while it
/// is closed from another thread: every call made is either run once
/// (`Ok`) or turned away `Closed` (nothing else), a caller turned away is
/// never admitted afterwards, the limit holds, `drained` resolves, and the
/// pool's counters equal the callers' tally.
#[test]
fn sync_and_async_callers_racing_a_close_are_each_run_once_or_closed() {
    within(BOUND, || {
        for (order, barging) in [
            (Order::Fifo, false),
            (Order::Lifo, true),
            (Order::Priority, true),
        ] {
            let pool = Pool::builder().order(order).size(2).build().unwrap();
            if barging {
                pool.set_sync_barging(Some(Duration::from_micros(500)));
            }
            let meter = Meter::default();
            let ok = Arc::new(AtomicU64::new(0));
            let closed = Arc::new(AtomicU64::new(0));
            let ran = Arc::new(AtomicU64::new(0));
            let mut threads = Vec::new();
            for t in 0..3u64 {
                let (pool, meter, ok, closed, ran) = (
                    pool.clone(),
                    meter.clone(),
                    ok.clone(),
                    closed.clone(),
                    ran.clone(),
                );
                threads.push(std::thread::spawn(move || loop {
                    let out = pool.run_weighted(t as i64, || {
                        let _inside = meter.enter();
                        ran.fetch_add(1, SeqCst);
                        std::thread::sleep(Duration::from_micros(100));
                    });
                    match out {
                        Ok(()) => ok.fetch_add(1, SeqCst),
                        Err(e) => {
                            assert_eq!(e, Rejected::Closed);
                            closed.fetch_add(1, SeqCst);
                            assert_eq!(pool.run(|| ()), Err(Rejected::Closed), "closed for good");
                            closed.fetch_add(1, SeqCst);
                            return;
                        }
                    };
                }));
            }
            for t in 0..2u64 {
                let (pool, meter, ok, closed, ran) = (
                    pool.clone(),
                    meter.clone(),
                    ok.clone(),
                    closed.clone(),
                    ran.clone(),
                );
                threads.push(std::thread::spawn(move || {
                    futures::executor::block_on(async {
                        loop {
                            let (a, b) = futures::join!(
                                pool.submit_weighted(t as i64, async {
                                    let _inside = meter.enter();
                                    ran.fetch_add(1, SeqCst);
                                    common::yield_now().await;
                                }),
                                pool.submit(async {
                                    let _inside = meter.enter();
                                    ran.fetch_add(1, SeqCst);
                                })
                            );
                            let mut done = false;
                            for out in [a, b] {
                                match out {
                                    Ok(()) => {
                                        ok.fetch_add(1, SeqCst);
                                    }
                                    Err(e) => {
                                        assert_eq!(e, Rejected::Closed);
                                        closed.fetch_add(1, SeqCst);
                                        done = true;
                                    }
                                }
                            }
                            if done {
                                return;
                            }
                        }
                    })
                }));
            }
            std::thread::sleep(Duration::from_millis(60));
            pool.close();
            for t in threads {
                t.join().unwrap();
            }
            common::runtime()
                .block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), pool.drained()).await
                })
                .expect("the closed pool drains");
            let s = pool.stats();
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
            assert!(ok.load(SeqCst) > 0);
            assert_eq!(
                ran.load(SeqCst),
                ok.load(SeqCst),
                "every admitted call ran once: {s:?}"
            );
            assert_eq!(s.completed, ok.load(SeqCst), "{s:?}");
            assert_eq!(
                s.rejected_for(Rejected::Closed),
                closed.load(SeqCst),
                "{s:?}"
            );
            assert_eq!(s.rejected_total(), closed.load(SeqCst), "{s:?}");
            assert!(meter.max() <= 2, "{order:?}: {} at once", meter.max());
        }
    });
}
