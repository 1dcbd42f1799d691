//! Acceptance tests, round 31 (runtime): the wait queue's order against a
//! reference model across a priority queue's spill past 64 distinct weights
//! (arrivals and cancellations interleaved with hand-offs, FIFO and LIFO
//! too); the queue-depth rule's exact steps at the pool level (growth toward
//! the mean demand at most doubling, shrinking at most halving and never
//! below one slot by itself with `min = 0`, its samples between events, new
//! and refused timings, a cut made by a release's own evaluation); hand-set
//! bounds through reloads; `shutdown`'s report (each count, the message); a
//! duration too long to pass meaning "never"; spawned calls dropped with
//! their runtime; a lowered waiting bound, a bound of 0 and sync barging's
//! callers counted as waiting; `drained`; the stream adapters' bound after a
//! scale-down, at a limit of 0 and on a pool at 0; metrics outcomes and
//! gauges against the stats, pools sharing a name; the ceiling's and its
//! groups' accounting through every outcome. Concurrency is counted from
//! outside the library (a meter guard entered at a body's start and dropped
//! at its end); waits are bounded only to turn a hang into a failure.
//!
//! Bugs kept as ignored tests: `calls_coming_and_going_inside_an_interval_do_not_change_its_samples`
//! (the queue-depth rule re-anchors its sample grid at every event that
//! takes a sample, so events between sample instants drop samples and the
//! window reaches back into the previous interval) and
//! `an_admission_timeout_reads_back_as_it_was_set` (`Duration::MAX` reads
//! back as `u64::MAX - 1` nanoseconds).
#![cfg(not(miri))]

mod common;

use common::{assert_accounted, within, Meter, Task};
use pool_runtime::{Kind, ManualClock, Order, Pool, Rejected, ShutdownTimedOut};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(30);

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A call whose body records its id when it runs (and counts itself in `meter`).
fn recorded<'a>(
    pool: &'a Pool,
    weight: i64,
    id: usize,
    log: &Arc<Mutex<Vec<usize>>>,
    meter: &Meter,
) -> Task<impl Future<Output = Result<(), Rejected>> + 'a> {
    let log = log.clone();
    let meter = meter.clone();
    Task::new(pool.submit_weighted(weight, async move {
        let _inside = meter.enter();
        log.lock().unwrap().push(id);
    }))
}

/// The key a freed slot goes by, smallest first: the weight then arrival
/// (priority), arrival (FIFO), latest arrival (LIFO).
fn key(order: Order, weight: i64, seq: i64) -> (i64, i64) {
    match order {
        Order::Priority => (weight, seq),
        Order::Fifo => (0, seq),
        Order::Lifo => (0, -seq),
    }
}

fn weight_for(rng: &mut Rng) -> i64 {
    match rng.below(10) {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => rng.below(3) as i64 - 1, // -1, 0, 1: many ties
        // ~300 distinct weights, positive and negative.
        _ => rng.below(300) as i64 * 1_000_003 - 150_000_000,
    }
}

/// Drives a pool of one slot through `rounds` hand-offs with arrivals and
/// cancellations in between, checking every admission against the model.
fn order_against_the_model(order: Order, seed: u64) {
    let pool = Pool::builder().order(order).size(1).build().unwrap();
    let meter = Meter::default();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut rng = Rng(seed);
    let mut tasks = Vec::new();
    // Model: the queued calls by the key a slot goes by.
    let mut model: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    let mut keys: Vec<(i64, i64)> = Vec::new();
    let mut seq = 0i64;
    let holder = pool.try_acquire().unwrap();
    let arrive = |n: usize,
                  tasks: &mut Vec<Option<Task<_>>>,
                  model: &mut BTreeMap<(i64, i64), usize>,
                  keys: &mut Vec<(i64, i64)>,
                  seq: &mut i64,
                  rng: &mut Rng| {
        for _ in 0..n {
            let w = weight_for(rng);
            let id = tasks.len();
            let mut task = recorded(&pool, w, id, &log, &meter);
            task.assert_pending();
            *seq += 1;
            let k = key(order, w, *seq);
            model.insert(k, id);
            keys.push(k);
            tasks.push(Some(task));
        }
    };
    // 200 waiters: well past 64 distinct weights for the priority order.
    arrive(200, &mut tasks, &mut model, &mut keys, &mut seq, &mut rng);
    assert_eq!(pool.stats().waiting, 200);
    drop(holder);
    let mut admitted = model.pop_first().map(|(_, id)| id);
    let mut checked = 0;
    let mut cancelled = 0u64;
    for round in 0..2_000 {
        if admitted.is_none() && model.is_empty() {
            break;
        }
        // Arrivals while a slot is handed on, fewer as the run goes on, so
        // the queue drains back below 64 weights and empties.
        if round < 150 {
            let n = rng.below(4) as usize;
            arrive(n, &mut tasks, &mut model, &mut keys, &mut seq, &mut rng);
        }
        // A queued call gives up (never the admitted one).
        if rng.below(3) == 0 && !model.is_empty() {
            let nth = rng.below(model.len() as u64) as usize;
            let (&k, &id) = model.iter().nth(nth).unwrap();
            model.remove(&k);
            assert!(tasks[id].take().is_some());
            cancelled += 1;
        }
        // One sweep: the admitted call runs; its release hands the slot on.
        for task in tasks.iter_mut() {
            if let Some(t) = task {
                if t.poll().is_ready() {
                    *task = None;
                }
            }
        }
        let done: Vec<usize> = log.lock().unwrap()[checked..].to_vec();
        assert!(
            !done.is_empty(),
            "{order:?}: the admitted call {admitted:?} did not run"
        );
        for id in done {
            assert_eq!(
                Some(id),
                admitted,
                "{order:?} seed {seed}: call {id} (key {:?}) ran where the model admits {:?} (key {:?})",
                keys[id],
                admitted,
                admitted.map(|a| keys[a])
            );
            checked += 1;
            admitted = model.pop_first().map(|(_, id)| id);
        }
        let stats = pool.stats();
        assert_eq!(stats.waiting, model.len(), "{order:?}: {stats:?}");
        assert_eq!(stats.running, usize::from(admitted.is_some()));
        assert_accounted(&stats);
    }
    assert!(
        model.is_empty() && admitted.is_none(),
        "the run did not end"
    );
    let stats = pool.stats();
    assert_eq!(stats.completed, checked as u64 + 1, "{stats:?}"); // + the holder
    assert_eq!(stats.cancelled, cancelled);
    assert_eq!((stats.running, stats.waiting), (0, 0));
    assert_accounted(&stats);
    assert_eq!(meter.max(), 1, "a pool of one ran two bodies at once");
}

/// README "How it works": "A priority pool keeps up to 64 distinct weights
/// waiting at once without allocating; past that, the lists of the other
/// weights sit in a `BTreeMap`" and `submit_weighted`: "smaller first, FIFO
/// among equals"; "Dropping a waiting call removes it from the queue at
/// once". The order must not change across the spill, with arrivals and
/// cancellations between hand-offs, extreme weights and ties.
#[test]
fn priority_order_matches_the_model_across_the_spill_past_64_weights() {
    for seed in [1, 2, 3, 0x5eed] {
        order_against_the_model(Order::Priority, seed);
    }
}

/// README: "FIFO and LIFO pools accept and ignore" weights; LIFO pops the
/// latest arrival; cancellations leave the queue at once.
#[test]
fn fifo_and_lifo_orders_match_the_model_with_weights_arrivals_and_cancellations() {
    for seed in [7, 8] {
        order_against_the_model(Order::Fifo, seed);
        order_against_the_model(Order::Lifo, seed);
    }
}

// ---- the queue-depth rule, step by step ------------------------------------

fn queue_depth_pool(clock: &ManualClock, min: usize, max: usize, size: usize) -> Pool {
    Pool::builder()
        .kind(Kind::Autoscale)
        .min(min)
        .max(max)
        .size(size)
        .autoscale_interval(Duration::from_secs(10))
        .autoscale_window(10)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// `queue_depth.rs` module docs: "`D > L` (calls queued on average): grow to
/// `ceil(D)`, at least `L + 1`, at most `2 L` per step"; the demand is
/// sampled at intake, release and "when a waiting call leaves (cancelled or
/// timed out)"; README: "growing admits waiters". Counted from outside: the
/// bodies running never exceed the limit.
#[test]
fn the_queue_depth_rule_grows_by_its_formula_at_cancellation_events() {
    let clock = ManualClock::new();
    let pool = queue_depth_pool(&clock, 1, 100, 4);
    assert_eq!(pool.size(), 4);
    let meter = Meter::default();
    let (_gate, open) = common::gate();
    let calls = |n: usize| -> Vec<Task<_>> {
        (0..n)
            .map(|_| {
                let meter = meter.clone();
                let open = open.clone();
                Task::new(pool.submit(async move {
                    let _inside = meter.enter();
                    common::Gate(open).await;
                }))
            })
            .collect()
    };
    let mut tasks: Vec<Option<Task<_>>> = calls(20).into_iter().map(Some).collect();
    let poll_all = |tasks: &mut Vec<Option<Task<_>>>| {
        for t in tasks.iter_mut().flatten() {
            let _ = t.poll();
        }
    };
    poll_all(&mut tasks);
    assert_eq!((pool.stats().running, pool.stats().waiting), (4, 16));
    assert_eq!(meter.now(), 4);
    // The last waiting call (FIFO: the last to be admitted) gives up.
    let cancel_last_waiting = |tasks: &mut Vec<Option<Task<_>>>| {
        let i = tasks.iter().rposition(Option::is_some).unwrap();
        tasks[i] = None;
    };
    // Demand 20 for a whole interval: 4 -> min(ceil(20), 2 * 4) = 8.
    clock.advance(Duration::from_secs(10));
    cancel_last_waiting(&mut tasks);
    assert_eq!(pool.size(), 8, "{:?}", pool.stats());
    poll_all(&mut tasks);
    assert_eq!(pool.stats().running, 8);
    assert_eq!(meter.now(), 8);
    assert_eq!(pool.stats().waiting, 11);
    // Demand 19 (8 + 11): 8 -> min(19, 16) = 16.
    clock.advance(Duration::from_secs(10));
    cancel_last_waiting(&mut tasks);
    assert_eq!(pool.size(), 16, "{:?}", pool.stats());
    poll_all(&mut tasks);
    assert_eq!((pool.stats().running, pool.stats().waiting), (16, 2));
    // Demand 18 (16 + 2): 16 -> ceil(18) = 18 (at least 17, at most 32).
    clock.advance(Duration::from_secs(10));
    cancel_last_waiting(&mut tasks);
    assert_eq!(pool.size(), 18, "{:?}", pool.stats());
    poll_all(&mut tasks);
    assert_eq!((pool.stats().running, pool.stats().waiting), (17, 0));
    assert_eq!(meter.now(), 17);
    assert!(meter.max() <= 17);
    // Everything ends (release events at the same instant: no evaluation).
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    poll_all(&mut tasks);
    assert_eq!(pool.stats().running, 0);
    assert_eq!(pool.size(), 18);
    assert_accounted(&pool.stats());
}

/// `queue_depth.rs`: "`D < L / 2`: shrink to `ceil(D * 1.25)` ..., at most
/// halving per step, and never below 1 (with `min = 0` ...; only a `resize`
/// takes it to 0)"; README: "an idle pool shrinks toward its demand, not one
/// slot at a time" and "with `min = 0` a pool starts at 1".
#[test]
fn an_idle_pool_halves_per_interval_down_to_one_slot_with_min_zero() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(40)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    assert_eq!(pool.size(), 1, "with min = 0 a pool starts at 1");
    let pool = queue_depth_pool(&clock, 0, 40, 18);
    let meter = Meter::default();
    let mut sizes = vec![pool.size()];
    for _ in 0..8 {
        clock.advance(Duration::from_secs(10));
        // An event: one call, in and out (demand 0 over the interval).
        let meter = meter.clone();
        let mut call = Task::new(pool.submit(async move {
            let _inside = meter.enter();
        }));
        assert!(call.poll().is_ready());
        sizes.push(pool.size());
    }
    assert_eq!(
        sizes,
        [18, 9, 5, 3, 2, 1, 1, 1, 1],
        "halving, then held at 1"
    );
    assert_eq!(pool.resize(0), 0, "a resize takes it to 0");
    assert_eq!(meter.max(), 1);
}

// ---- shutdown's report -------------------------------------------------------

/// `Pool::shutdown`: "if the pool has not drained by then, the calls still
/// waiting are turned away (like `abort`) ..., the ones still running are
/// left to finish ..., and the error says how many of each there were";
/// `ShutdownTimedOut::{running, nested, turned_away, waiting}` and its
/// message; "Await `drained` afterwards to wait for the running ones".
#[test]
fn shutdown_past_its_deadline_reports_each_count_and_leaves_running_calls_alone() {
    within(BOUND, || {
        let rt = common::runtime();
        rt.block_on(async {
            let pool = Pool::fixed(2);
            let meter = Meter::default();
            let release = Arc::new(tokio::sync::Notify::new());
            let nested_started = Arc::new(tokio::sync::Notify::new());
            // Two running calls; the first makes a nested call that runs
            // under its slot.
            let parent = {
                let (pool, meter, release, nested_started) = (
                    pool.clone(),
                    meter.clone(),
                    release.clone(),
                    nested_started.clone(),
                );
                tokio::spawn(async move {
                    let p = pool.clone();
                    pool.submit(async move {
                        let _inside = meter.enter();
                        let nested = p.submit(async {
                            nested_started.notify_one();
                            release.notified().await;
                        });
                        nested.await
                    })
                    .await
                })
            };
            nested_started.notified().await;
            let other = {
                let (pool, meter, release) = (pool.clone(), meter.clone(), release.clone());
                tokio::spawn(async move {
                    pool.submit(async move {
                        let _inside = meter.enter();
                        release.notified().await;
                    })
                    .await
                })
            };
            let start = std::time::Instant::now();
            while pool.stats().running < 2 {
                assert!(start.elapsed() < BOUND);
                tokio::task::yield_now().await;
            }
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    tokio::spawn(async move {
                        pool.submit(async move {
                            let _inside = meter.enter();
                        })
                        .await
                    })
                })
                .collect();
            while pool.stats().waiting < 3 {
                assert!(start.elapsed() < BOUND);
                tokio::task::yield_now().await;
            }
            let stats = pool.stats();
            assert_eq!((stats.running, stats.nested, stats.waiting), (2, 1, 3));
            let err: ShutdownTimedOut = pool
                .shutdown(Some(Duration::from_millis(100)))
                .await
                .unwrap_err();
            assert_eq!(
                (err.running, err.nested, err.turned_away, err.waiting),
                (2, 1, 3, 0),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                "the pool did not drain before the shutdown deadline: 3 call(s) still running \
                 (1 nested), 3 waiting call(s) turned away"
            );
            for waiter in waiters {
                assert_eq!(waiter.await.unwrap(), Err(Rejected::Closed));
            }
            assert_eq!(meter.now(), 2, "running calls are never interrupted");
            assert_eq!(pool.stats().rejected_for(Rejected::Closed), 3);
            release.notify_waiters();
            // (notify_waiters reaches only registered waiters: keep nudging.)
            let drained = pool.drained();
            tokio::pin!(drained);
            loop {
                tokio::select! {
                    _ = &mut drained => break,
                    _ = tokio::time::sleep(Duration::from_millis(5)) => release.notify_waiters(),
                }
                assert!(start.elapsed() < BOUND);
            }
            assert_eq!(parent.await.unwrap(), Ok(Ok(())));
            assert_eq!(other.await.unwrap(), Ok(()));
            let stats = pool.stats();
            assert_eq!((stats.completed, stats.running, stats.nested), (3, 0, 0));
            assert_eq!(meter.max(), 2);
            assert_accounted(&stats);
        });
    });
}

// ---- durations too long to pass ----------------------------------------------

/// README "Bad input": "A duration too long to pass (`Duration::MAX`) means
/// 'never'." An admission timeout of `Duration::MAX` (builder or set later)
/// neither panics nor times a call out: the async and the sync caller wait
/// and are admitted when the slot frees.
#[test]
fn an_admission_timeout_of_duration_max_never_fires_for_async_or_sync_callers() {
    within(BOUND, || {
        let built = Pool::builder()
            .size(1)
            .admission_timeout(Duration::MAX)
            .build()
            .unwrap();
        let set = Pool::fixed(1);
        set.set_admission_timeout(Some(Duration::MAX));
        // (Read back as some 584 years: see the ignored test below.)
        assert!(set.admission_timeout().unwrap() > Duration::from_secs(500 * 365 * 86_400));
        for pool in [built, set] {
            let meter = Meter::default();
            let holder = pool.try_acquire_owned(0).unwrap();
            let rt = common::runtime();
            let waiting = {
                let (pool, meter) = (pool.clone(), meter.clone());
                rt.spawn(async move {
                    pool.submit(async move {
                        let _inside = meter.enter();
                    })
                    .await
                })
            };
            let sync = {
                let (pool, meter) = (pool.clone(), meter.clone());
                std::thread::spawn(move || {
                    pool.run(|| {
                        let _inside = meter.enter();
                    })
                })
            };
            let start = std::time::Instant::now();
            while pool.stats().waiting < 2 {
                assert!(start.elapsed() < BOUND);
                std::thread::sleep(Duration::from_millis(1));
            }
            // Still waiting a while later (a deadline that wrapped to "now"
            // would have fired).
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(pool.stats().waiting, 2);
            assert_eq!(pool.stats().rejected_for(Rejected::TimedOut), 0);
            drop(holder);
            assert_eq!(rt.block_on(waiting).unwrap(), Ok(()));
            assert_eq!(sync.join().unwrap(), Ok(()));
            assert_eq!(meter.max(), 1);
            assert_eq!(meter.done(), 2);
            assert_accounted(&pool.stats());
        }
    });
}

/// `Pool::set_admission_timeout`: "Changes the admission timeout";
/// `Pool::admission_timeout`: "The admission timeout, if any"; README: "A
/// duration too long to pass (`Duration::MAX`) means 'never'". What is set
/// should read back as set (as `set_sync_barging`/`sync_barging` and
/// `max_waiting` do); `Duration::MAX` reads back as `u64::MAX - 1`
/// nanoseconds instead.
#[test]
fn an_admission_timeout_reads_back_as_it_was_set() {
    let set = Pool::fixed(1);
    set.set_admission_timeout(Some(Duration::MAX));
    assert_eq!(set.admission_timeout(), Some(Duration::MAX));
    let built = Pool::builder()
        .admission_timeout(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(built.admission_timeout(), Some(Duration::MAX));
}

// ---- a stream's bound after a scale-down -------------------------------------

#[cfg(feature = "stream")]
mod stream {
    use super::*;
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    /// Items that each wait for their own signal, counting how many the
    /// adapter pulled and how many are alive.
    struct Items {
        pulled: Arc<AtomicUsize>,
        alive: Arc<AtomicUsize>,
        senders: Arc<Mutex<Vec<Option<tokio::sync::oneshot::Sender<()>>>>>,
        meter: Meter,
    }

    struct Alive(Arc<AtomicUsize>);
    impl Drop for Alive {
        fn drop(&mut self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }

    impl Items {
        fn new() -> Items {
            Items {
                pulled: Arc::default(),
                alive: Arc::default(),
                senders: Arc::default(),
                meter: Meter::default(),
            }
        }
        fn stream(&self, n: usize) -> impl futures::Stream<Item = impl Future<Output = usize>> {
            let (pulled, alive, senders, meter) = (
                self.pulled.clone(),
                self.alive.clone(),
                self.senders.clone(),
                self.meter.clone(),
            );
            futures::stream::iter(0..n).map(move |i| {
                pulled.fetch_add(1, SeqCst);
                alive.fetch_add(1, SeqCst);
                let guard = Alive(alive.clone());
                let (tx, rx) = tokio::sync::oneshot::channel();
                senders.lock().unwrap().push(Some(tx));
                let meter = meter.clone();
                async move {
                    let _guard = guard;
                    let _inside = meter.enter();
                    let _ = rx.await;
                    i
                }
            })
        }
        fn finish(&self, i: usize) {
            if let Some(tx) = self.senders.lock().unwrap()[i].take() {
                let _ = tx.send(());
            }
        }
    }

    /// `PooledUnordered::limit`: "Holds at most `limit` of the stream's items
    /// at once (a `limit` of 0 counts as 1), when that is fewer than twice
    /// the pool's size"; the bound is "`max(1, 2 × size)`" ("at least one, so
    /// a pool scaled to zero still has a waiter to wake the adapter when it
    /// grows again"). Items alive are counted from outside.
    #[test]
    fn a_limit_of_zero_counts_as_one_and_a_pool_at_zero_keeps_one_item() {
        futures::executor::block_on(async {
            let pool = Pool::fixed(4);
            let items = Items::new();
            let mut out = Box::pin(items.stream(10).pooled_unordered(&pool).limit(0));
            assert!(futures::poll!(out.next()).is_pending());
            assert_eq!(items.pulled.load(SeqCst), 1);
            assert_eq!(items.meter.now(), 1);
            items.finish(0);
            assert!(matches!(
                futures::poll!(out.next()),
                std::task::Poll::Ready(Some(Ok(0)))
            ));
            assert!(futures::poll!(out.next()).is_pending());
            assert_eq!((items.pulled.load(SeqCst), out.in_flight()), (2, 1));
            drop(out);
            assert_eq!(items.alive.load(SeqCst), 0);

            let zero = Pool::fixed(2);
            assert_eq!(zero.resize(0), 0);
            let items = Items::new();
            let mut out = Box::pin(items.stream(10).pooled_ordered(&zero));
            assert!(futures::poll!(out.next()).is_pending());
            assert_eq!(items.pulled.load(SeqCst), 1, "one item waits at 0 slots");
            assert_eq!((zero.stats().running, zero.stats().waiting), (0, 1));
            // Growing the pool admits the waiter, which wakes the adapter.
            assert_eq!(zero.resize(1), 1);
            assert!(futures::poll!(out.next()).is_pending());
            assert_eq!(items.meter.now(), 1);
            assert_eq!(items.pulled.load(SeqCst), 2, "bound 2 at one slot");
            let mut all = Vec::new();
            for round in 0.. {
                assert!(round < 10_000, "the stream stalled at {all:?}");
                for i in 0..items.pulled.load(SeqCst) {
                    items.finish(i);
                }
                match futures::poll!(out.next()) {
                    std::task::Poll::Ready(Some(v)) => all.push(v.unwrap()),
                    std::task::Poll::Ready(None) => break,
                    std::task::Poll::Pending => {}
                }
                assert!(out.in_flight() <= 2);
            }
            assert_eq!(all, (0..10).collect::<Vec<_>>());
            assert!(items.meter.max() <= 1);
            assert_accounted(&zero.stats());
        });
    }

    /// Stream module docs: "The bound follows the pool: after a scale-down
    /// the adapter pulls nothing until it is below the new bound" (the bound
    /// being `max(1, 2 × size)` items held, in flight or — ordered — finished
    /// and held back); the calls run within the pool's limit.
    #[test]
    fn after_a_scale_down_the_ordered_adapter_pulls_nothing_until_below_the_new_bound() {
        futures::executor::block_on(async {
            let pool = Pool::fixed(4);
            let items = Items::new();
            let mut out = Box::pin(items.stream(40).pooled_ordered(&pool));
            assert!(futures::poll!(out.next()).is_pending());
            assert_eq!(items.pulled.load(SeqCst), 8, "2 x 4");
            assert_eq!(pool.stats().running, 4);
            assert_eq!(pool.resize(1), 1);
            // The bound is now 2. Finish the items out of order, the first
            // last, so outputs are held back.
            let mut yielded = Vec::new();
            for i in [3, 2, 1] {
                items.finish(i);
                assert!(futures::poll!(out.next()).is_pending());
                assert_eq!(
                    items.pulled.load(SeqCst),
                    8,
                    "pulled while holding {} items, above the new bound",
                    out.in_flight()
                );
            }
            // Three of the first four ended; running (1) is not below the
            // limit (1), so nothing more was admitted.
            assert_eq!(pool.stats().running, 1);
            assert_eq!(items.meter.now(), 1);
            items.finish(0);
            // Items 0..=3 come out in order; items 4..8 wait their turn.
            while yielded.len() < 4 {
                match futures::poll!(out.next()) {
                    std::task::Poll::Ready(Some(v)) => yielded.push(v.unwrap()),
                    std::task::Poll::Ready(None) => panic!("ended early"),
                    std::task::Poll::Pending => break,
                }
            }
            assert_eq!(yielded, [0, 1, 2, 3]);
            assert!(
                out.in_flight() >= 2 && items.pulled.load(SeqCst) == 8,
                "4 items held (4..8), bound 2: nothing pulled ({} held, {} pulled)",
                out.in_flight(),
                items.pulled.load(SeqCst)
            );
            // Finish the rest one at a time; never more than 2 held once
            // below the bound, never more than 1 running.
            let mut next = 4;
            for round in 0.. {
                assert!(round < 10_000, "the stream stalled at {yielded:?}");
                if yielded.len() == 40 {
                    break;
                }
                let pulled = items.pulled.load(SeqCst);
                for i in next..pulled {
                    items.finish(i);
                }
                next = pulled;
                match futures::poll!(out.next()) {
                    std::task::Poll::Ready(Some(v)) => yielded.push(v.unwrap()),
                    std::task::Poll::Ready(None) => break,
                    std::task::Poll::Pending => {}
                }
                let held = out.in_flight();
                if yielded.len() >= 8 {
                    assert!(held <= 2, "{held} items held under a bound of 2");
                }
                assert!(items.alive.load(SeqCst) <= 8);
            }
            assert_eq!(yielded, (0..40).collect::<Vec<_>>());
            assert!(items.meter.max() <= 4);
            assert_eq!(pool.stats().completed, 40);
            assert_accounted(&pool.stats());
        });
    }
}

// ---- spawned calls and a runtime that goes away ---------------------------------

/// `SpawnHandle` docs: "A runtime that shuts down before the call ends drops
/// it the same way (waiting or running, it is counted in
/// `Stats::cancelled`); awaiting its handle then yields
/// `Err(Rejected::Closed)`, from any executor"; `Pool::spawn`: "the call
/// takes its place in the queue now, in call order". A spawned call handed
/// the slot before its task ever ran, and one still queued, are both
/// dropped with the runtime: the slot goes on to the next caller, their
/// work never ran, and the accounting holds.
#[cfg(feature = "tokio")]
#[test]
fn spawned_calls_dropped_with_their_runtime_free_their_place_and_slot() {
    within(BOUND, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let holder = pool.try_acquire_owned(0).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (first, second) = {
            let _entered = rt.enter();
            let work = |meter: Meter| async move {
                let _inside = meter.enter();
            };
            (
                pool.spawn(work(meter.clone())).unwrap(),
                pool.spawn(work(meter.clone())).unwrap(),
            )
        };
        assert_eq!(
            pool.stats().waiting,
            2,
            "queued at once, before any task ran"
        );
        // A later caller, behind both.
        let mut later = {
            let meter = meter.clone();
            Task::new(pool.submit(async move {
                let _inside = meter.enter();
            }))
        };
        later.assert_pending();
        assert_eq!(pool.stats().waiting, 3);
        // The slot goes to the first spawned call, whose task has not run.
        drop(holder);
        later.assert_pending();
        assert_eq!((pool.stats().running, pool.stats().waiting), (1, 2));
        // The runtime goes away without ever running either task.
        drop(rt);
        let stats = pool.stats();
        assert_eq!(stats.cancelled, 2, "{stats:?}");
        assert_eq!((stats.running, stats.waiting), (1, 0), "{stats:?}");
        // The later caller got the slot they held.
        assert!(
            later.is_woken(),
            "the freed slot was handed to the later caller"
        );
        assert_eq!(later.assert_ready(), Ok(()));
        assert_eq!(futures::executor::block_on(first), Err(Rejected::Closed));
        assert_eq!(futures::executor::block_on(second), Err(Rejected::Closed));
        assert_eq!(meter.done(), 1, "only the later caller's work ran");
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting, stats.completed), (0, 0, 2));
        assert_accounted(&stats);
    });
}

// ---- the waiting bound, changed while calls wait ------------------------------

/// `Pool::set_max_waiting`: "Changes the bound on waiting calls for calls
/// that arrive from now on (calls already waiting keep their place)";
/// `max_waiting`: "past this many waiting calls, a call is rejected
/// (`Full`)". Lowered under five waiting calls, the bound turns newcomers
/// away until the queue is below it, the five keep their order, and the
/// bodies never overlap on a pool of one.
#[test]
fn a_lowered_waiting_bound_keeps_the_waiting_calls_and_turns_newcomers_away() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = pool.try_acquire().unwrap();
    let mut waiting: Vec<_> = (0..5)
        .map(|id| recorded(&pool, 0, id, &log, &meter))
        .collect();
    for call in &mut waiting {
        call.assert_pending();
    }
    pool.set_max_waiting(Some(2)).unwrap();
    assert_eq!(
        pool.stats().waiting,
        5,
        "calls already waiting keep their place"
    );
    let mut refused = recorded(&pool, 0, 100, &log, &meter);
    assert_eq!(refused.assert_ready(), Err(Rejected::Full));
    drop(holder);
    // Let calls run one at a time until two wait: still full at two.
    let mut next = 0;
    let mut run_next = |waiting: &mut Vec<Task<_>>| {
        assert!(waiting[next].poll().is_ready());
        next += 1;
    };
    run_next(&mut waiting); // 0 ran; 1 admitted, 2..5 wait (3)
    run_next(&mut waiting); // 1 ran; 2 admitted, 3, 4 wait (2)
    assert_eq!(pool.stats().waiting, 2);
    let mut refused = recorded(&pool, 0, 101, &log, &meter);
    assert_eq!(
        refused.assert_ready(),
        Err(Rejected::Full),
        "2 waiting, bound 2"
    );
    run_next(&mut waiting); // 2 ran; 3 admitted, 4 waits (1)
    assert_eq!(pool.stats().waiting, 1);
    let mut accepted = recorded(&pool, 0, 102, &log, &meter);
    accepted.assert_pending();
    assert_eq!(pool.stats().waiting, 2);
    run_next(&mut waiting);
    run_next(&mut waiting);
    assert_eq!(accepted.assert_ready(), Ok(()));
    assert_eq!(*log.lock().unwrap(), [0, 1, 2, 3, 4, 102]);
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Full), 2);
    assert_eq!(stats.rejected_total(), 2);
    assert_accounted(&stats);
    assert_eq!(meter.max(), 1);
}

// ---- drained -------------------------------------------------------------------

/// `Pool::drained`: "Resolves once the pool is closed and nothing is waiting
/// or running. (On an open pool it waits for `close` first.)"; `close`:
/// "waiting and running calls finish".
#[test]
fn drained_waits_for_close_and_then_for_every_waiting_and_running_call() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();
    assert!(!drained.is_woken());
    let holder = pool.try_acquire().unwrap();
    let mut queued = recorded(&pool, 0, 1, &log, &meter);
    queued.assert_pending();
    pool.close();
    assert!(pool.is_closed());
    drained.assert_pending();
    let mut refused = recorded(&pool, 0, 2, &log, &meter);
    assert_eq!(refused.assert_ready(), Err(Rejected::Closed));
    drop(holder);
    drained.assert_pending();
    assert_eq!(
        queued.assert_ready(),
        Ok(()),
        "a closed pool lets waiting calls run"
    );
    assert!(drained.is_woken());
    drained.assert_ready();
    assert_eq!(*log.lock().unwrap(), [1]);
    // An idle open pool: pending until closed.
    let idle = Pool::fixed(2);
    let mut drained = Task::new(idle.drained());
    drained.assert_pending();
    idle.close();
    assert!(drained.is_woken(), "closing an idle pool wakes the wait");
    drained.assert_ready();
}

// ---- bounds set by hand and reloads --------------------------------------------

#[cfg(feature = "config")]
mod hand_set_bounds {
    use super::*;
    use pool_runtime::config::{self, Change, Effect};
    use pool_runtime::{register_group, Group, GroupSpec};

    static AUTO: Group = Group::new(
        GroupSpec::new("acc31::auto")
            .kind(Kind::Autoscale)
            .min(2)
            .max(10),
    );
    register_group!(AUTO);

    fn load(text: &str) -> config::Report {
        config::load_str("acc31.toml", &format!("[groups.\"acc31::auto\"]\n{text}")).unwrap()
    }

    /// The most sync callers running at once out of `callers`, counted from
    /// outside.
    fn peak_of(callers: usize) -> usize {
        let meter = Meter::default();
        let threads: Vec<_> = (0..callers)
            .map(|_| {
                let meter = meter.clone();
                std::thread::spawn(move || {
                    AUTO.run(|| {
                        let _inside = meter.enter();
                        std::thread::sleep(Duration::from_millis(20));
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), Ok(()));
        }
        meter.max()
    }

    /// README "Configuration": "Bounds set by hand (`set_bounds` on a group's
    /// pool) last until a reload changes the group's configured bounds: it
    /// then sets both from the configuration (its report names the
    /// configured bound that changed)"; `pooled::config`: "A running pool
    /// keeps its kind until it restarts: a load that changes the kind changes
    /// nothing in it, and one that brings its kind back resizes it only if
    /// that kind's counts changed."
    #[test]
    fn hand_set_bounds_last_through_reloads_until_the_configured_bounds_change() {
        let _turn = common::config_turn();
        within(BOUND, || {
            assert_eq!(AUTO.run(|| 1), Ok(1));
            assert_eq!(AUTO.pool().bounds(), (2, 10));
            assert_eq!(AUTO.pool().set_bounds(4, 6), Ok(4));
            assert_eq!(AUTO.scale(100), 6, "clamped to the hand-set max");
            assert!(peak_of(12) <= 6);

            // A reload that changes something else keeps them.
            let report = load("max_waiting = 50\n");
            assert!(
                report.changes.iter().all(|c| c.setting == "max_waiting"),
                "{report}"
            );
            assert_eq!(AUTO.pool().bounds(), (4, 6));
            assert_eq!(AUTO.size(), 6);

            // The kind goes away and comes back with the same counts: the
            // running pool moves at neither load.
            let report = load("max_waiting = 50\nkind = \"fixed\"\nsize = 3\n");
            assert!(
                report
                    .changes
                    .iter()
                    .all(|c| c.effect == Effect::AtRestart || c.setting == "max_waiting"),
                "{report}"
            );
            assert_eq!(AUTO.pool().bounds(), (4, 6), "{report}");
            assert_eq!(AUTO.size(), 6, "{report}");
            let report = load("max_waiting = 50\n");
            assert_eq!(AUTO.pool().bounds(), (4, 6), "{report}");
            assert_eq!(AUTO.size(), 6, "{report}");
            assert!(peak_of(12) <= 6);

            // The configured `min` changes: both bounds come from the
            // configuration, and the report names `min` (not `max`).
            let report = load("max_waiting = 50\nmin = 3\n");
            assert_eq!(AUTO.pool().bounds(), (3, 10), "{report}");
            let bounds: Vec<&Change> = report
                .changes
                .iter()
                .filter(|c| c.setting == "min" || c.setting == "max")
                .collect();
            assert_eq!(
                bounds,
                [&Change {
                    group: "acc31::auto",
                    setting: "min",
                    from: "2".to_owned(),
                    to: "3".to_owned(),
                    effect: Effect::Applied,
                }],
                "{report}"
            );
            assert_eq!(AUTO.scale(100), 10);
            assert!(peak_of(14) <= 10);
            config::clear();
        });
    }
}

// ---- metrics agree with the stats ----------------------------------------------

#[cfg(feature = "metrics")]
mod metrics_agree {
    use super::*;
    use common::Capture;

    fn gauges(capture: &Capture, pool: &str) -> (f64, f64, f64) {
        let g = |name| capture.gauge(name, pool).unwrap_or(f64::NAN);
        (g("pooled.limit"), g("pooled.running"), g("pooled.waiting"))
    }

    /// `observe` docs, feature `metrics`: "The counters count what `Stats`
    /// counts, by the same rules (...; `completed` here excludes the
    /// panicked calls, which `Stats` counts in both), except that `running`
    /// excludes calls nested under their parent's slot ...: the gauges lag
    /// by a wake-up, and agree whenever the pool is quiet"; `pooled.calls`
    /// has `outcome` `completed`, `panicked`, `cancelled`, `rejected` with a
    /// `reason`. Every outcome once, on one pool, checked against its stats.
    #[test]
    fn every_outcome_is_counted_as_the_stats_count_it_and_the_gauges_agree_when_quiet() {
        common::quiet_planned_panics();
        let capture = Capture::default();
        let pool = metrics::with_local_recorder(&capture, || {
            Pool::builder()
                .name("acc31::m")
                .size(2)
                .max_waiting(2)
                .build()
                .unwrap()
        });
        let name = "acc31::m";
        let meter = Meter::default();
        assert_eq!(gauges(&capture, name), (2.0, 0.0, 0.0));
        let p1 = pool.try_acquire_owned(0).unwrap();
        let p2 = pool.try_acquire().unwrap();
        // w1's work makes a nested call that holds until opened.
        let (_gate, open) = common::gate();
        let mut w1 = {
            let (inner, meter, open) = (pool.clone(), meter.clone(), open.clone());
            Task::new(pool.submit(async move {
                let _inside = meter.enter();
                inner
                    .submit(async move {
                        let _inside = meter.enter();
                        common::Gate(open).await;
                    })
                    .await
            }))
        };
        w1.assert_pending();
        let mut w2 = Task::new(pool.submit(async {}));
        w2.assert_pending();
        assert_eq!(gauges(&capture, name), (2.0, 2.0, 2.0));
        let mut full = Task::new(pool.submit(async {}));
        assert_eq!(full.assert_ready(), Err(Rejected::Full));
        drop(w2); // cancelled while waiting
        pool.pause();
        let mut paused = Task::new(pool.submit(async {}));
        assert_eq!(paused.assert_ready(), Err(Rejected::Paused));
        pool.resume();
        pool.set_admission_timeout(Some(Duration::from_millis(30)));
        let mut late = Task::new(pool.submit(async {}));
        late.assert_pending();
        let start = std::time::Instant::now();
        while !late.is_woken() {
            assert!(start.elapsed() < BOUND, "the admission timeout never fired");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(late.assert_ready(), Err(Rejected::TimedOut));
        pool.set_admission_timeout(None);
        assert_eq!(gauges(&capture, name), (2.0, 2.0, 1.0));
        // The slot goes to w1, whose nested call runs under it.
        drop(p2);
        w1.assert_pending();
        let stats = pool.stats();
        assert_eq!((stats.running, stats.nested, stats.waiting), (2, 1, 0));
        assert_eq!(meter.now(), 2, "w1 and its nested call");
        assert_eq!(
            gauges(&capture, name),
            (2.0, 2.0, 0.0),
            "running excludes the nested call"
        );
        open.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(w1.assert_ready(), Ok(Ok(())));
        // A call that panics.
        let mut boom = Task::new(pool.submit(async { panic!("planned: acc31 metrics") }));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| boom.poll()));
        assert!(unwound.is_err());
        drop(boom);
        drop(p1);
        let stats = pool.stats();
        assert_accounted(&stats);
        // permits p1, p2, w1 and its nested call completed; one panicked.
        assert_eq!(
            (stats.completed, stats.panicked, stats.cancelled),
            (5, 1, 1)
        );
        assert_eq!(capture.calls(name, "completed", None), 4);
        assert_eq!(capture.calls(name, "panicked", None), 1);
        assert_eq!(capture.calls(name, "cancelled", None), 1);
        for (reason, rejected) in [
            ("full", Rejected::Full),
            ("paused", Rejected::Paused),
            ("timed_out", Rejected::TimedOut),
            ("closed", Rejected::Closed),
        ] {
            assert_eq!(
                capture.calls(name, "rejected", Some(reason)),
                stats.rejected_for(rejected),
                "{reason}"
            );
        }
        assert_eq!(gauges(&capture, name), (2.0, 0.0, 0.0));
        assert_eq!(meter.max(), 2);
    }

    /// `observe`: "Pools that share a name add up in its counters and in the
    /// `limit`, `running` and `waiting` gauges ... A pool that goes away (its
    /// last handle dropped — an owned permit is one ...) takes its limit out
    /// of `pooled.limit` then, and its calls out of `running`/`waiting` as
    /// they end."
    #[test]
    fn pools_sharing_a_name_add_up_and_leave_the_gauges_with_their_last_handle() {
        let capture = Capture::default();
        let name = "acc31::twin";
        let (a, b) = metrics::with_local_recorder(&capture, || {
            let build = |n| Pool::builder().name(name).size(n).build().unwrap();
            (build(3), build(4))
        });
        assert_eq!(gauges(&capture, name), (7.0, 0.0, 0.0));
        assert_eq!(b.resize(1), 1);
        assert_eq!(gauges(&capture, name), (4.0, 0.0, 0.0));
        let held_a = a.try_acquire_owned(0).unwrap();
        let held_b = b.try_acquire_owned(0).unwrap();
        let mut waiting_b = {
            let b = b.clone();
            Task::new(async move { b.submit(async {}).await })
        };
        waiting_b.assert_pending();
        assert_eq!(gauges(&capture, name), (4.0, 2.0, 1.0));
        drop(b); // the permit and the waiting call still hold b
        assert_eq!(gauges(&capture, name), (4.0, 2.0, 1.0));
        drop(held_b);
        assert_eq!(waiting_b.assert_ready(), Ok(()));
        drop(waiting_b); // b's last handle
        assert_eq!(gauges(&capture, name), (3.0, 1.0, 0.0));
        drop(held_a);
        assert_eq!(gauges(&capture, name), (3.0, 0.0, 0.0));
        assert_eq!(capture.calls(name, "completed", None), 3);
        drop(a);
        assert_eq!(gauges(&capture, name), (0.0, 0.0, 0.0));
    }
}

// ---- the queue-depth rule's samples, between events ----------------------------

/// A pool of 40 slots under the queue-depth rule (every 10 s over 10
/// samples: one a second), fully used for its first interval, then with a
/// demand of 4 for the second, in which calls come and go (each in and out
/// at once, leaving the demand at 4) at the instants `events` (seconds);
/// returns the size after the second interval's evaluation (an event at
/// 20 s). The 40 long calls are counted from outside.
fn size_after_a_quiet_interval(events: &[f64]) -> usize {
    let clock = ManualClock::new();
    let pool = queue_depth_pool(&clock, 1, 100, 40);
    let meter = Meter::default();
    let (_gate, open) = common::gate();
    let mut long: Vec<_> = (0..40)
        .map(|_| {
            let (meter, open) = (meter.clone(), open.clone());
            Task::new(pool.submit(async move {
                let _inside = meter.enter();
                common::Gate(open).await;
            }))
        })
        .collect();
    for call in &mut long {
        call.assert_pending();
    }
    assert_eq!(meter.now(), 40);
    let mut now = 0.0;
    let mut to = |t: f64| {
        clock.advance(Duration::from_secs_f64(t - now));
        now = t;
    };
    to(10.0);
    long.truncate(4); // 36 end: the first interval is evaluated (demand 40: kept)
    assert_eq!(pool.size(), 40);
    assert_eq!(meter.now(), 4);
    let in_and_out = |pool: &Pool| {
        let meter = meter.clone();
        let mut call = Task::new(pool.submit(async move {
            let _inside = meter.enter();
        }));
        assert_eq!(call.assert_ready(), Ok(()));
    };
    for &t in events {
        to(t);
        in_and_out(&pool);
        assert_eq!(pool.size(), 40, "no evaluation before 20 s");
    }
    to(20.0);
    in_and_out(&pool);
    assert!(meter.max() <= 41);
    pool.size()
}

/// `queue_depth.rs`: "a *sample* is the demand on the pool, `running +
/// waiting`, taken every `interval / window` ... samples are taken at
/// those events, and the periods with no event in between are filled with
/// the (unchanged) demand"; "every `interval`, with `D` the mean demand over
/// the last `window` samples and `L` the current limit: ... `D < L / 2`:
/// shrink to `ceil(D * 1.25)` ..., at most halving per step". A second
/// interval at a demand of 4 under a limit of 40 is ten samples of 4:
/// 40 -> 20. With no event inside the interval, it is.
#[test]
fn a_quiet_interval_without_events_halves_the_limit() {
    assert_eq!(size_after_a_quiet_interval(&[]), 20);
}

/// The same interval, with calls coming and going every 1.9 s (the demand
/// stays 4): the samples of the periods between events must still be one
/// a second, so the evaluation at 20 s sees ten samples of 4 and halves the
/// limit. The rule re-anchors its next sample at each event that took one
/// (`next_sample = now + sample_every` in `QueueDepthRule::observe`), so
/// each period between such events yields `floor(length / sample_every)`
/// samples, not one per `interval / window` elapsed: here five samples of
/// the interval instead of ten, the window's other five are the previous
/// interval's (40), the mean is 22 >= 40 / 2 and the limit stays 40.
#[test]
fn calls_coming_and_going_inside_an_interval_do_not_change_its_samples() {
    assert_eq!(
        size_after_a_quiet_interval(&[11.9, 13.8, 15.7, 17.6, 19.5]),
        20,
        "the window of the evaluation at 20 s must hold the interval's own ten samples of 4"
    );
}

/// `Pool::set_autoscale_timing`: "Restarts an autoscaled pool's
/// queue-depth rule with new timing (fixed pools ignore it)"; "a zero
/// interval or window, or a window above `AutoscaleTiming::MAX_WINDOW`, is
/// an error and changes nothing". Refused timings leave the old schedule
/// (an evaluation at 10 s); a new one restarts the rule (its evaluation
/// comes one new interval later, at 14 s, not at the old 20 s).
#[test]
fn new_autoscale_timing_restarts_the_rule_and_refused_timing_changes_nothing() {
    use pool_runtime::{AutoscaleTiming, BuildError};
    let clock = ManualClock::new();
    let pool = queue_depth_pool(&clock, 1, 100, 4);
    let meter = Meter::default();
    let (_gate, open) = common::gate();
    let mut calls: Vec<Option<Task<_>>> = (0..20)
        .map(|_| {
            let (meter, open) = (meter.clone(), open.clone());
            Some(Task::new(pool.submit(async move {
                let _inside = meter.enter();
                common::Gate(open).await;
            })))
        })
        .collect();
    let poll_all = |calls: &mut Vec<Option<Task<_>>>| {
        for call in calls.iter_mut().flatten() {
            let _ = call.poll();
        }
    };
    let cancel_last = |calls: &mut Vec<Option<Task<_>>>| {
        let i = calls.iter().rposition(Option::is_some).unwrap();
        calls[i] = None;
    };
    poll_all(&mut calls);
    assert_eq!((pool.stats().running, pool.stats().waiting), (4, 16));
    clock.advance(Duration::from_secs(5));
    let timing = |secs, window| AutoscaleTiming {
        interval: Duration::from_secs(secs),
        window,
    };
    assert_eq!(
        pool.set_autoscale_timing(timing(0, 10)),
        Err(BuildError::ZeroInterval)
    );
    assert_eq!(
        pool.set_autoscale_timing(timing(4, 0)),
        Err(BuildError::ZeroWindow)
    );
    assert!(matches!(
        pool.set_autoscale_timing(timing(4, AutoscaleTiming::MAX_WINDOW + 1)),
        Err(BuildError::OutOfRange {
            setting: "autoscale_window",
            ..
        })
    ));
    // The old schedule holds: demand 20 over 10 s, 4 -> 8 at 10 s.
    clock.advance(Duration::from_secs(5));
    cancel_last(&mut calls);
    assert_eq!(pool.size(), 8);
    poll_all(&mut calls);
    assert_eq!((pool.stats().running, pool.stats().waiting), (8, 11));
    // New timing: every 4 s over 4 samples, from now (10 s).
    pool.set_autoscale_timing(timing(4, 4)).unwrap();
    clock.advance(Duration::from_secs(3));
    cancel_last(&mut calls); // 13 s: no evaluation yet
    assert_eq!(pool.size(), 8);
    clock.advance(Duration::from_secs(1));
    cancel_last(&mut calls); // 14 s: demand 18-19 over the new interval: 8 -> 16
    assert_eq!(pool.size(), 16, "{:?}", pool.stats());
    poll_all(&mut calls);
    assert_eq!(pool.stats().running, 16);
    assert_eq!(meter.now(), 16);
    assert!(meter.max() <= 16);
    // A fixed pool accepts a timing and ignores it.
    let fixed = Pool::builder()
        .size(2)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    fixed.set_autoscale_timing(timing(1, 1)).unwrap();
    let _held: Vec<_> = (0..2).map(|_| fixed.try_acquire().unwrap()).collect();
    let mut waiting = Task::new(fixed.submit(async {}));
    waiting.assert_pending();
    clock.advance(Duration::from_secs(60));
    let mut more = Task::new(fixed.submit(async {}));
    more.assert_pending();
    assert_eq!(fixed.size(), 2);
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    poll_all(&mut calls);
}

/// README "Limits": "At every admission `running <= limit`, including while
/// scaling down under load: scaling down never interrupts running work, the
/// pool just admits nothing until `running < limit`". A queue-depth pool of
/// 16, idle for most of an interval and then full with calls waiting, is
/// cut (mean demand ~0 < 16 / 2: 16 -> 8) by the evaluation that a release
/// makes: that release must not hand its slot to a waiter by the limit it
/// replaces, and the waiters get in only once fewer than 8 run.
#[test]
fn a_cut_made_by_a_releases_own_evaluation_admits_nobody_above_the_new_limit() {
    let clock = ManualClock::new();
    let pool = queue_depth_pool(&clock, 1, 100, 16);
    let meter = Meter::default();
    clock.advance(Duration::from_millis(9_900));
    let gates: Vec<_> = (0..21).map(|_| common::gate()).collect();
    let mut calls: Vec<Option<Task<_>>> = gates
        .iter()
        .map(|(_, open)| {
            let (meter, open) = (meter.clone(), open.clone());
            Some(Task::new(pool.submit(async move {
                let _inside = meter.enter();
                common::Gate(open).await;
            })))
        })
        .collect();
    for call in calls.iter_mut().flatten() {
        let _ = call.poll();
    }
    assert_eq!((pool.stats().running, pool.stats().waiting), (16, 5));
    assert_eq!(pool.size(), 16);
    clock.advance(Duration::from_millis(100));
    // One running call ends at 10 s: its release evaluates the interval.
    gates[0].1.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(calls[0].take().unwrap().poll().is_ready());
    assert_eq!(pool.size(), 8, "{:?}", pool.stats());
    let poll_all = |calls: &mut Vec<Option<Task<_>>>| {
        for call in calls.iter_mut().flatten() {
            let _ = call.poll();
        }
    };
    poll_all(&mut calls);
    assert_eq!(
        (pool.stats().running, pool.stats().waiting),
        (15, 5),
        "a waiter was let in above the new limit"
    );
    assert_eq!(meter.now(), 15);
    // Running calls end one by one (all at 10 s: no more evaluations).
    for i in 1..16 {
        gates[i].1.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(calls[i].take().unwrap().poll().is_ready());
        poll_all(&mut calls);
        let stats = pool.stats();
        assert!(stats.running <= 8.max(15 - i), "{i}: {stats:?}");
        assert_eq!(meter.now(), stats.running);
    }
    assert!(meter.max() <= 16);
    for (_, open) in &gates {
        open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    poll_all(&mut calls);
    assert_eq!(pool.stats().running, 0);
    assert_accounted(&pool.stats());
}

/// `GroupSettings::max_waiting`: "`0` means: never wait, run now or be
/// turned away"; README: sync barging's callers outside the queue "count
/// as waiting". A sync caller of a full pool with `max_waiting = 0` is
/// turned away at once, barging on or off (it does not wait out its
/// barging bound first).
#[test]
fn a_waiting_bound_of_zero_turns_a_sync_caller_away_at_once_with_sync_barging_on() {
    within(BOUND, || {
        for barging in [None, Some(Duration::from_secs(5))] {
            let pool = Pool::builder().size(1).max_waiting(0).build().unwrap();
            pool.set_sync_barging(barging);
            let meter = Meter::default();
            let holder = pool.try_acquire_owned(0).unwrap();
            let caller = {
                let (pool, meter) = (pool.clone(), meter.clone());
                std::thread::spawn(move || {
                    let started = std::time::Instant::now();
                    let out = pool.run(|| {
                        let _inside = meter.enter();
                    });
                    (out, started.elapsed())
                })
            };
            // The slot stays held: a caller that waits (in the barging room
            // for its 5 s bound) comes back only after it.
            let (out, took) = caller.join().unwrap();
            drop(holder);
            assert_eq!(
                out,
                Err(Rejected::Full),
                "barging {barging:?} (after {took:?})"
            );
            assert!(took < Duration::from_secs(4), "it waited {took:?}");
            assert_eq!(meter.done(), 0);
            assert_eq!(pool.stats().rejected_for(Rejected::Full), 1);
            assert_accounted(&pool.stats());
        }
    });
}

/// README "Many sync callers on few slots": with `sync_barging`, "callers
/// outside the queue count as waiting"; `max_waiting`: "past this many
/// waiting calls, a call is rejected (`Full`)". A sync caller waiting
/// outside the queue fills a waiting bound of 1 for an async newcomer, and
/// a queued async call fills it for a sync newcomer, which is turned away
/// at once rather than after its barging bound.
#[test]
fn sync_callers_outside_the_queue_count_against_the_waiting_bound() {
    within(BOUND, || {
        let pool = Pool::builder().size(1).max_waiting(1).build().unwrap();
        pool.set_sync_barging(Some(Duration::from_secs(5)));
        let meter = Meter::default();
        let holder = pool.try_acquire_owned(0).unwrap();
        let sync_caller = {
            let (pool, meter) = (pool.clone(), meter.clone());
            std::thread::spawn(move || {
                pool.run(|| {
                    let _inside = meter.enter();
                })
            })
        };
        let start = std::time::Instant::now();
        while pool.stats().waiting < 1 {
            assert!(start.elapsed() < BOUND);
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut newcomer = Task::new(pool.submit(async {}));
        assert_eq!(newcomer.assert_ready(), Err(Rejected::Full));
        drop(holder);
        assert_eq!(sync_caller.join().unwrap(), Ok(()));
        // Now an async call waits in the queue; a sync newcomer is full.
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut queued = {
            let meter = meter.clone();
            Task::new(pool.submit(async move {
                let _inside = meter.enter();
            }))
        };
        queued.assert_pending();
        let started = std::time::Instant::now();
        assert_eq!(pool.run(|| ()), Err(Rejected::Full));
        assert!(started.elapsed() < Duration::from_secs(4));
        drop(holder);
        assert_eq!(queued.assert_ready(), Ok(()));
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Full), 2);
        assert_accounted(&stats);
        assert_eq!(meter.max(), 1);
        assert_eq!(meter.done(), 2);
    });
}

// ---- the ceiling's accounting --------------------------------------------------

#[cfg(feature = "config")]
mod ceiling_accounting {
    use super::*;
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};

    static NARROW: Group = Group::new(GroupSpec::new("acc31::narrow").size(1).max_waiting(1));
    register_group!(NARROW);
    static WIDE: Group = Group::new(GroupSpec::new("acc31::wide").size(4));
    register_group!(WIDE);

    fn all_accounted() {
        assert_accounted(&NARROW.stats());
        assert_accounted(&WIDE.stats());
        assert_accounted(&ceiling::stats().expect("a ceiling is set"));
    }

    /// `ceiling` module docs: "every group call takes a ceiling slot before
    /// its group's slot; a call its group turns away at once (paused or
    /// closed) is turned away before it would wait for the ceiling ... A
    /// call waiting for a ceiling slot is not yet its group's: it is in the
    /// ceiling's `stats().waiting`, not in the group's `submitted` or
    /// `waiting`, and a group's `max_waiting` above 0 counts only the calls
    /// waiting for the group's own slots"; `Stats`: the counters add up
    /// while nothing enters or leaves. Each outcome (running, waiting for the
    /// group, full at the group, waiting for the ceiling, cancelled there,
    /// paused) keeps the ceiling's and both groups' counts adding up, and
    /// the bodies running never exceed the ceiling.
    #[test]
    fn every_outcome_keeps_the_ceilings_and_the_groups_counts_adding_up() {
        let _turn = common::config_turn();
        config::load_str("acc31-ceiling.toml", "ceiling = 3\n").unwrap();
        let meter = Meter::default();
        let body = |meter: &Meter| {
            let meter = meter.clone();
            async move {
                let _inside = meter.enter();
            }
        };
        let held_narrow = NARROW.try_acquire_owned(0).unwrap();
        let mut waits_for_narrow = Task::new(NARROW.submit(0, body(&meter)));
        waits_for_narrow.assert_pending();
        assert_eq!(NARROW.stats().waiting, 1);
        assert_eq!(ceiling::stats().unwrap().running, 2);
        // A third ceiling slot is free, the group's waiting bound is not.
        let mut full = Task::new(NARROW.submit(0, body(&meter)));
        assert_eq!(full.assert_ready(), Err(Rejected::Full));
        assert_eq!(
            ceiling::stats().unwrap().running,
            2,
            "its ceiling slot came back"
        );
        all_accounted();
        let held_wide = WIDE.try_acquire_owned(0).unwrap();
        assert_eq!(ceiling::stats().unwrap().running, 3);
        // The ceiling is full: calls wait for it, not yet their group's.
        let submitted_before = NARROW.stats().submitted();
        let mut waits_for_ceiling = Task::new(NARROW.submit(0, body(&meter)));
        waits_for_ceiling.assert_pending();
        let mut given_up = Task::new(WIDE.submit(0, body(&meter)));
        given_up.assert_pending();
        assert_eq!(ceiling::stats().unwrap().waiting, 2);
        assert_eq!(NARROW.stats().waiting, 1);
        assert_eq!(NARROW.stats().submitted(), submitted_before);
        drop(given_up);
        assert_eq!(ceiling::stats().unwrap().waiting, 1);
        NARROW.pause();
        let mut paused = Task::new(NARROW.submit(0, body(&meter)));
        assert_eq!(paused.assert_ready(), Err(Rejected::Paused));
        assert_eq!(
            ceiling::stats().unwrap().waiting,
            1,
            "turned away before the ceiling"
        );
        NARROW.resume();
        all_accounted();
        // A ceiling slot frees: the waiter takes it and finds the group's
        // waiting bound reached (one call waits for its slot).
        drop(held_wide);
        assert_eq!(waits_for_ceiling.assert_ready(), Err(Rejected::Full));
        all_accounted();
        drop(held_narrow);
        assert_eq!(waits_for_narrow.assert_ready(), Ok(()));
        let c = ceiling::stats().unwrap();
        assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
        all_accounted();
        assert_eq!(meter.max(), 1);
        assert_eq!(meter.done(), 1);
        config::clear();
    }
}
