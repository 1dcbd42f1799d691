//! Acceptance tests, round 22 (runtime): promises of the README and the
//! rustdoc about the task-pool API that no earlier round checks — what a
//! queued, nested or barging call allocates (a priority queue of many
//! distinct weights, a stream, the tower modes, a group's calls), the order
//! in which growth admits and wakes waiters on all six pools, a priority
//! queue past its 64 buckets, the call spans of the sync, spawned and
//! try_acquire paths, the clock a quiet call never reads, a stream's
//! backlog growing an autoscaled pool, the errors' texts, and user `Drop`s
//! that call the pool (a tower service's inner service, a completed work, a
//! blocking closure dropped unrun). Each test quotes its promise with its
//! line. Concurrency is counted from outside the library; waits are
//! bounded only to turn a hang into a failure.
#![cfg(not(miri))]

mod common;

use common::{assert_accounted, Task};
use pool_runtime::{Kind, ManualClock, Order, Pool, Rejected};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Every bounded wait is over by then, or the test fails.
const BOUND: Duration = Duration::from_secs(20);

/// The tests of this file run one at a time: the allocation counts are
/// this thread's own, but the call spans' `tracing` interest is global
/// (a callsite first met while no subscriber exists, on another test's
/// thread, races a capture being installed).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- a counting allocator (the method of `allocations.rs`) -----------------

struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted now, and how many.
    /// (Per thread: the tests of this binary run in parallel.)
    static COUNTED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// Safety: forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations this thread makes while running `f`.
fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTED.with(|c| c.set(true));
    let out = f();
    COUNTED.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get) - before)
}

/// A slot of `pool` held by another thread (so this thread's calls are
/// top-level calls that queue) until the returned sender is used or dropped.
fn hold_on_another_thread(pool: &Pool) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (release, held) = mpsc::channel::<()>();
    let (entered, is_held) = mpsc::channel::<()>();
    let pool = pool.clone();
    let holder = std::thread::spawn(move || {
        pool.run(|| {
            entered.send(()).unwrap();
            let _ = held.recv_timeout(BOUND);
        })
        .unwrap();
    });
    is_held
        .recv_timeout(BOUND)
        .expect("the holder got its slot");
    (release, holder)
}

/// One round on a priority pool of one slot held elsewhere: `weights.len()`
/// `submit_weighted` calls (boxed before the window) are polled once each
/// (they queue), then dropped (they leave the queue). Returns this
/// thread's allocations in the window: queueing and leaving only.
fn queue_and_leave(pool: &Pool, weights: &[i64]) -> usize {
    let mut calls: Vec<_> = weights
        .iter()
        .map(|&w| Box::pin(pool.submit_weighted(w, std::future::ready(()))))
        .collect();
    let mut cx = Context::from_waker(Waker::noop());
    let ((), allocations) = allocations_of(|| {
        for call in &mut calls {
            assert!(call.as_mut().poll(&mut cx).is_pending(), "the call queued");
        }
        assert_eq!(pool.stats().waiting, weights.len());
        // Leaving the queue (cancellation) is part of a queued call too.
        for call in &mut calls {
            // Replace by a finished future: drops the call in the window
            // without freeing the vector's boxes here.
            call.set(pool.submit_weighted(0, std::future::ready(())));
        }
    });
    drop(calls);
    assert_eq!(pool.stats().waiting, 0);
    allocations
}

/// README, "Proof": "A `submit`, a permit or a sync call allocates nothing,
/// uncontended, queued or parked (`pool-runtime/tests/allocations.rs`
/// counts)"; README, "How it works": "**Zero allocations per call.** A
/// waiting call's queue node lives inside its own future (an intrusive
/// list); the priority queue keeps one FIFO list per distinct weight".
///
/// The control: a priority pool whose queue holds 40 distinct weights at
/// once allocates nothing in a steady state (after a warm-up round: its
/// bucket vector keeps its capacity).
#[test]
fn a_priority_queue_of_a_few_dozen_distinct_weights_allocates_nothing_once_warm() {
    let _serial = serial();
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let (release, holder) = hold_on_another_thread(&pool);
    let weights: Vec<i64> = (0..40).rev().collect();
    let _warm_up = queue_and_leave(&pool, &weights);
    let steady = queue_and_leave(&pool, &weights);
    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(steady, 0, "40 queued calls of 40 distinct weights");
    assert_accounted(&pool.stats());
}

/// As above (README, "Proof", and "**Zero allocations per call.**"), with
/// 200 distinct weights waiting at once (a call per weight: urgency
/// computed per request, a deadline in milliseconds, a retry count times a
/// step): queueing and leaving the queue must allocate nothing in a steady
/// state either. The queue's buckets spill into a `BTreeMap` past 64
/// distinct weights, whose nodes are allocated as calls queue and freed as
/// it empties, round after round.
#[test]
#[ignore = "a documented limit since (README, Proof): past 64 distinct weights waiting at once, the lists' map allocates; kept to measure it (`--ignored`)"]
fn a_priority_queue_of_many_distinct_weights_allocates_nothing_once_warm() {
    let _serial = serial();
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let (release, holder) = hold_on_another_thread(&pool);
    let weights: Vec<i64> = (0..200).rev().collect();
    let _warm_up = queue_and_leave(&pool, &weights);
    let steady = [
        queue_and_leave(&pool, &weights),
        queue_and_leave(&pool, &weights),
    ];
    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(
        steady,
        [0, 0],
        "two rounds of 200 queued calls of 200 distinct weights, after a warm-up"
    );
    assert_accounted(&pool.stats());
}

// ---- priority order across many distinct weights ---------------------------

/// Records the order in which calls start their work.
#[derive(Clone, Default)]
struct Started(Arc<Mutex<Vec<i64>>>);

impl Started {
    fn call(&self, id: i64) -> impl Future<Output = ()> + use<> {
        let started = self.clone();
        async move { started.0.lock().unwrap().push(id) }
    }

    fn take(&self) -> Vec<i64> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

/// Calls queued by hand: (weight, arrival id, the call).
type Queued<F> = Vec<(i64, i64, Task<F>)>;

/// Polls the woken calls of `queued` (one slot: one at a time is admitted,
/// starts and completes, handing the slot on) until `started` holds `n`
/// ids or nothing is left; returns the ids in the order they started.
fn drive_until<F: Future<Output = Result<(), Rejected>>>(
    queued: &mut Queued<F>,
    started: &Started,
    n: usize,
) -> Vec<i64> {
    for _ in 0..100_000 {
        if started.0.lock().unwrap().len() >= n || queued.is_empty() {
            break;
        }
        for (_, _, task) in queued.iter_mut() {
            if started.0.lock().unwrap().len() >= n {
                break;
            }
            if task.is_woken() {
                assert_eq!(task.poll(), Poll::Ready(Ok(())));
            }
        }
        // A call that completed was polled once woken: it is done.
        queued.retain(|(_, id, _)| !started.0.lock().unwrap().contains(id));
    }
    started.take()
}

/// The ids of `queued` in the order a priority queue admits them.
fn by_weight_then_arrival<F>(queued: &Queued<F>, skip: &[i64]) -> Vec<i64> {
    let mut order: Vec<(i64, i64)> = queued
        .iter()
        .filter(|(_, id, _)| !skip.contains(id))
        .map(|(w, id, _)| (*w, *id))
        .collect();
    order.sort();
    order.into_iter().map(|(_, id)| id).collect()
}

/// `Pool::submit_weighted` (pool-runtime/src/pool/mod.rs:229-230): "on a
/// priority pool smaller weights are admitted first, equal weights
/// first-come first-served"; README "How it works": "the priority queue
/// keeps one FIFO list per distinct weight".
///
/// 150 distinct weights (past the 64 the queue's bucket vector holds before
/// it spills into a map), in a scrambled order, ties of three calls at
/// several weights, a fifth of the calls cancelled wherever they wait, 40
/// more arriving (smaller, larger and tied weights) while the spilled queue
/// drains, then a second round after it emptied: each freed slot goes to
/// the smallest weight waiting, ties in arrival order.
#[test]
fn a_priority_pool_admits_by_weight_then_arrival_across_many_distinct_weights() {
    let _serial = serial();
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let started = Started::default();
    let mut next_id = 0i64;
    for round in 0..2 {
        // The one slot, held by a call polled by hand.
        let (gate, open) = common::gate();
        let mut holder = Task::new(pool.submit(gate));
        holder.assert_pending();
        let mut queued: Queued<_> = Vec::new();
        let mut enqueue = |queued: &mut Queued<_>, weight: i64| {
            let id = next_id;
            next_id += 1;
            let mut task = Task::new(pool.submit_weighted(weight, started.call(id)));
            task.assert_pending();
            queued.push((weight, id, task));
        };
        for i in 0..150i64 {
            let weight = (i * 73) % 150 - 75 + round; // a permutation of -75..75
            enqueue(&mut queued, weight);
            if weight % 37 == 0 {
                enqueue(&mut queued, weight);
                enqueue(&mut queued, weight);
            }
        }
        let mut n = 0;
        queued.retain(|_| {
            n += 1;
            n % 5 != 3
        });
        assert_eq!(pool.stats().waiting, queued.len());
        let expected = by_weight_then_arrival(&queued, &[]);

        // The holder's slot goes to the first; each completion hands it on.
        open.store(true, SeqCst);
        assert_eq!(holder.poll(), Poll::Ready(Ok(())));
        let half = expected.len() / 2;
        let first = drive_until(&mut queued, &started, half);
        assert_eq!(first, expected[..half], "round {round}: the first half");
        // The next one was handed the slot at the last completion, before
        // these arrive.
        let handed = expected[half];
        for i in 0..40i64 {
            let weight = match i % 4 {
                0 => -200 - i, // ahead of everyone left
                1 => 500 + i,  // behind everyone
                2 => expected_weight(&queued, expected[expected.len() - 1 - (i as usize % 10)]),
                _ => (i * 7) % 150 - 75, // among the rest, tied or not
            };
            enqueue(&mut queued, weight);
        }
        let rest_expected: Vec<i64> = std::iter::once(handed)
            .chain(by_weight_then_arrival(&queued, &[handed]))
            .collect();
        let rest = drive_until(&mut queued, &started, rest_expected.len());
        assert_eq!(
            rest, rest_expected,
            "round {round}: the rest, newcomers among them"
        );
        assert!(queued.is_empty());
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    }
}

/// The weight of the call `id` in `queued`.
fn expected_weight<F>(queued: &Queued<F>, id: i64) -> i64 {
    queued
        .iter()
        .find(|(_, i, _)| *i == id)
        .map(|(w, _, _)| *w)
        .unwrap()
}

/// README, "Proof": "A `submit`, a permit or a sync call allocates nothing,
/// uncontended, queued or parked (`pool-runtime/tests/allocations.rs`
/// counts); what does allocate per call is `Pool::spawn` (a tokio task), a
/// group call under an application-wide ceiling (its ceiling slot is
/// boxed), an async call that waits on a pool with an admission timeout
/// (...) and a call of the tower layer's waiting mode that has to wait".
/// A call made from inside a call's work (a nested call: the reentrancy
/// rule, README "How it works") is none of those.
///
/// On a pool of 4 that is never full, 100 calls each await one `submit` of
/// the same pool from their work (a helper calling another helper through
/// one pool, a recursive function): after a warm-up round, the round must
/// allocate nothing. The control: the same 100 calls with their inner call
/// made to another pool (not nested) allocate nothing.
#[test]
fn a_nested_submit_on_an_uncontended_pool_allocates_nothing_once_warm() {
    let _serial = serial();
    let pool = Pool::fixed(4);
    let other = Pool::fixed(4);
    let round = |inner: &Pool| {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: Vec<_> = (0..100)
            .map(|_| Box::pin(pool.submit(async { inner.submit(async { 1 }).await.unwrap() })))
            .collect();
        let ((), allocations) = allocations_of(|| {
            for call in &mut calls {
                assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
            }
        });
        allocations
    };
    let _warm_up = (round(&other), round(&pool));
    let not_nested = round(&other);
    let nested = round(&pool);
    assert_eq!(
        not_nested, 0,
        "the control: 100 calls each awaiting a call of another pool"
    );
    assert_eq!(
        nested, 0,
        "100 calls each awaiting a nested call of their own pool"
    );
    let stats = pool.stats();
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
    assert_accounted(&stats);
}

/// As above, for the sync form: a sync call (`Pool::run`) made on the
/// thread of another sync call's work, on a pool that is never full,
/// allocates nothing once warm. The control: the inner call to another pool.
#[test]
fn a_nested_sync_call_on_an_uncontended_pool_allocates_nothing_once_warm() {
    let _serial = serial();
    let pool = Pool::fixed(4);
    let other = Pool::fixed(4);
    let round = |inner: &Pool| {
        allocations_of(|| {
            for _ in 0..100 {
                assert_eq!(pool.run(|| inner.run(|| 1).unwrap()), Ok(1));
            }
        })
        .1
    };
    let _warm_up = (round(&other), round(&pool));
    let not_nested = round(&other);
    let nested = round(&pool);
    assert_eq!(
        not_nested, 0,
        "the control: 100 sync calls each making a call of another pool"
    );
    assert_eq!(
        nested, 0,
        "100 sync calls each making a nested call of their own pool"
    );
    assert_accounted(&pool.stats());
}

// ---- a stream's allocations ------------------------------------------------

/// Pending once (waking itself), then its id: holds its slot across a poll.
#[cfg(feature = "stream")]
struct YieldThen(bool, u64);

#[cfg(feature = "stream")]
impl Future for YieldThen {
    type Output = u64;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(self.1);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Drives `stream` to its end by hand with a no-op waker (its calls wake
/// their own entries); returns the sum of the outputs and the allocations
/// this thread made meanwhile.
#[cfg(feature = "stream")]
fn drive_stream<S>(stream: S) -> (u64, usize)
where
    S: futures::Stream<Item = Result<u64, Rejected>>,
{
    let mut stream = std::pin::pin!(stream);
    let mut cx = Context::from_waker(Waker::noop());
    allocations_of(|| {
        let mut sum = 0;
        for _ in 0..10_000_000 {
            match stream.as_mut().poll_next(&mut cx) {
                Poll::Ready(Some(out)) => sum += out.expect("the pool is open"),
                Poll::Ready(None) => return sum,
                Poll::Pending => {}
            }
        }
        panic!("the stream never ended");
    })
}

/// pool-runtime/src/integrations/stream.rs:167-169 (the adapter's calls):
/// "Each call lives in a pinned box that is reused by the next call, with a
/// waker of its own that is made once per box: a stream that keeps `n`
/// calls in flight allocates `n` boxes and wakers, then nothing per item";
/// module docs: at most `max(1, 2 × size)` items held.
///
/// On a pool of 4, a stream of 2 000 items allocates no more than one of
/// 100 items (both hold 8 at once), for both adapters.
#[cfg(feature = "stream")]
#[test]
fn a_pooled_stream_allocates_per_call_in_flight_not_per_item() {
    let _serial = serial();
    use pool_runtime::PooledStreamExt;
    let pool = Pool::fixed(4);
    let items = |n: u64| futures::stream::iter((0..n).map(|i| YieldThen(false, i)));
    let sum = |n: u64| n * (n - 1) / 2;
    let (out, short) = drive_stream(items(100).pooled_unordered(&pool));
    assert_eq!(out, sum(100));
    let (out, long) = drive_stream(items(2000).pooled_unordered(&pool));
    assert_eq!(out, sum(2000));
    assert_eq!(long, short, "unordered: 2000 items allocate as 100 do");
    let (out, short) = drive_stream(items(100).pooled_ordered(&pool));
    assert_eq!(out, sum(100));
    let (out, long) = drive_stream(items(2000).pooled_ordered(&pool));
    assert_eq!(out, sum(2000));
    assert_eq!(long, short, "ordered: 2000 items allocate as 100 do");
    let stats = pool.stats();
    assert_eq!(stats.completed, 2 * 2100);
    assert_accounted(&stats);
}

// ---- growth admits waiters in the pool's order, on all six pools -----------

/// The six pools, each of one slot to start with (autoscaled ones between 1
/// and 8, on a clock that never moves, so only the calls below change them).
fn six_pools() -> Vec<(Kind, Order, Pool)> {
    let mut pools = Vec::new();
    for kind in [Kind::Fixed, Kind::Autoscale] {
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let builder = Pool::builder().kind(kind).order(order);
            let builder = match kind {
                Kind::Fixed => builder.size(1),
                Kind::Autoscale => builder.min(1).max(8).size(1).clock(ManualClock::new()),
            };
            pools.push((kind, order, builder.build().unwrap()));
        }
    }
    pools
}

/// The ids (0..n, in arrival order, with `weights[id]`) in the order `order`
/// admits them.
fn admission_order(order: Order, weights: &[i64]) -> Vec<i64> {
    let mut ids: Vec<i64> = (0..weights.len() as i64).collect();
    match order {
        Order::Fifo => {}
        Order::Lifo => ids.reverse(),
        Order::Priority => ids.sort_by_key(|&id| (weights[id as usize], id)),
    }
    ids
}

/// `Pool::scale` (pool-runtime/src/pool/mod.rs:673): "Growing admits waiting
/// calls at once"; `Pool::set_bounds` (:707): "the size is clamped into
/// them"; `Order` (order.rs): FIFO "first come, first served", LIFO "the
/// newest waiter runs first", priority "by weight, smaller first; first
/// come, first served among equal weights"; README: "A freed slot goes
/// straight to the next waiter chosen by the order".
///
/// On each of the six pools, one slot held and seven calls waiting (weights
/// with ties): `scale(2)` admits the two the order names first, then
/// `resize(4)` the next two, then (autoscaled pools: `set_bounds(6, 8)`;
/// fixed ones: `scale(2)`) the next two, and the holder's release the last.
#[test]
fn growing_admits_the_waiters_the_order_names_first_on_all_six_pools() {
    let _serial = serial();
    let weights = [5i64, -1, 3, 5, -1, 9, 0];
    for (kind, order, pool) in six_pools() {
        let started = Started::default();
        let (gate, open) = common::gate();
        let mut holder = Task::new(pool.submit(gate));
        holder.assert_pending();
        let mut waiting: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(id, &w)| {
                let mut task = Task::new(
                    pool.submit_weighted(w, Held(Box::pin(started.call(id as i64)), None)),
                );
                task.assert_pending();
                task
            })
            .collect();
        let expected = admission_order(order, &weights);
        let what = format!("{kind:?} {order:?}");
        let mut admitted = Vec::new();
        // One growth admits its waiters at once: which of them the test polls
        // first says nothing, so each step's admissions are compared as a set.
        let step =
            |grow: &dyn Fn(), waiting: &mut Vec<Task<_>>, admitted: &mut Vec<i64>, n: usize| {
                grow();
                for task in waiting.iter_mut() {
                    if task.is_woken() {
                        task.assert_pending(); // started, holding its slot
                    }
                }
                let mut now = started.take();
                now.sort();
                let mut owed = expected[admitted.len()..n].to_vec();
                owed.sort();
                assert_eq!(now, owed, "{what}: admitted after {:?}", admitted);
                admitted.extend(expected[admitted.len()..n].iter().copied());
            };
        step(
            &|| assert_eq!(pool.scale(2), 3),
            &mut waiting,
            &mut admitted,
            2,
        );
        step(
            &|| assert_eq!(pool.resize(5), 5),
            &mut waiting,
            &mut admitted,
            4,
        );
        step(
            &|| match kind {
                Kind::Fixed => assert_eq!(pool.scale(2), 7),
                Kind::Autoscale => assert_eq!(pool.set_bounds(7, 8), Ok(7)),
            },
            &mut waiting,
            &mut admitted,
            6,
        );
        open.store(true, SeqCst);
        assert_eq!(holder.poll(), Poll::Ready(Ok(())));
        step(&|| {}, &mut waiting, &mut admitted, 7);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (7, 0), "{what}: {stats:?}");
        drop(waiting);
        assert_accounted(&pool.stats());
    }
}

/// Records its start (the inner future) at its first poll, then stays
/// pending: a call holding its slot.
struct Held<F>(F, Option<()>);

impl<F: Future<Output = ()> + Unpin> Future for Held<F> {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.1.is_none() {
            let _ = std::pin::Pin::new(&mut self.0).poll(cx);
            self.1 = Some(());
        }
        Poll::Pending
    }
}

// ---- a group's calls allocate as a pool's do --------------------------------

static QUIET: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("acc22::quiet").size(2));

/// README, "Proof": "A `submit`, a permit or a sync call allocates nothing,
/// uncontended, queued or parked (...); what does allocate per call is
/// `Pool::spawn` (a tokio task), a group call under an application-wide
/// ceiling (its ceiling slot is boxed), ..." — so a group call without a
/// ceiling (none is set here) allocates nothing, as a pool's: `submit`,
/// `submit_wait`, `run`, `run_wait` and the permits, uncontended, and
/// `submit` queued behind another thread's calls.
#[test]
fn a_groups_calls_without_a_ceiling_allocate_nothing_once_warm() {
    let _serial = serial();
    let round = || {
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..50 {
            let mut call = std::pin::pin!(QUIET.submit(3, async { 1 }));
            assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
            let mut call = std::pin::pin!(QUIET.submit_wait(3, async { 2 }));
            assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(2));
            assert_eq!(QUIET.run(|| 3), Ok(3));
            assert_eq!(QUIET.run_wait(0, || 4), 4);
            drop(QUIET.try_acquire(0).expect("a free slot"));
            drop(QUIET.try_acquire_owned(0).expect("a free slot"));
            let mut permit = std::pin::pin!(QUIET.acquire(0));
            assert!(matches!(permit.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
        }
    };
    round();
    let ((), uncontended) = allocations_of(round);
    assert_eq!(uncontended, 0, "350 uncontended calls of a group");

    // Both slots held by another thread: this thread's calls queue.
    let (release, held) = mpsc::channel::<()>();
    let (entered, are_held) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut cx = Context::from_waker(Waker::noop());
        let first = QUIET.try_acquire(0).unwrap();
        let second = QUIET.try_acquire(0).unwrap();
        entered.send(()).unwrap();
        let _ = held.recv_timeout(BOUND);
        drop((first, second, &mut cx));
    });
    are_held.recv_timeout(BOUND).unwrap();
    let queue = || {
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..50 {
            let mut call = std::pin::pin!(QUIET.submit(0, async {}));
            assert!(call.as_mut().poll(&mut cx).is_pending(), "queued");
        }
    };
    queue();
    let ((), queued) = allocations_of(queue);
    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(queued, 0, "50 queued calls of a group");
    assert_accounted(&QUIET.stats());
}

// ---- call spans of the sync, spawned and nested paths ----------------------

#[cfg(feature = "tracing")]
mod spans {
    use super::*;
    use std::collections::BTreeMap;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
    use tracing_subscriber::Layer;

    type Fields = BTreeMap<String, String>;

    #[derive(Default)]
    struct Seen {
        /// (id, name, fields)
        spans: Vec<(u64, &'static str, Fields)>,
        /// (level, fields, the id of the span it is in)
        events: Vec<(Level, Fields, Option<u64>)>,
    }

    /// Records every span (its fields, recorded later too) and event.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Seen>>);

    struct Text<'a>(&'a mut Fields);

    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: LayerContext<'_, S>) {
            let mut fields = Fields::new();
            attrs.record(&mut Text(&mut fields));
            self.0
                .lock()
                .unwrap()
                .spans
                .push((id.into_u64(), attrs.metadata().name(), fields));
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, _: LayerContext<'_, S>) {
            let mut seen = self.0.lock().unwrap();
            if let Some(span) = seen.spans.iter_mut().rev().find(|s| s.0 == id.into_u64()) {
                values.record(&mut Text(&mut span.2));
            }
        }

        fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
            let mut fields = Fields::new();
            event.record(&mut Text(&mut fields));
            let span = ctx.event_span(event).map(|s| s.id().into_u64());
            self.0
                .lock()
                .unwrap()
                .events
                .push((*event.metadata().level(), fields, span));
        }
    }

    impl Capture {
        fn run<T>(&self, f: impl FnOnce() -> T) -> T {
            let subscriber = tracing_subscriber::registry().with(self.clone());
            tracing::subscriber::with_default(subscriber, f)
        }

        /// `[call, weight, wait_us, nested, outcome]` of the call spans of `pool`.
        fn calls(&self, pool: &str) -> Vec<[String; 5]> {
            let seen = self.0.lock().unwrap();
            seen.spans
                .iter()
                .filter(|(_, name, f)| {
                    *name == "call" && f.get("pool").map(String::as_str) == Some(pool)
                })
                .map(|(_, _, f)| {
                    let g = |n: &str| f.get(n).cloned().unwrap_or_else(|| "-".into());
                    [
                        g("call"),
                        g("weight"),
                        g("wait_us"),
                        g("nested"),
                        g("outcome"),
                    ]
                })
                .collect()
        }

        /// The `call rejected` events of `pool`: (level, reason, whether it
        /// is inside a call span of `pool`).
        fn rejections(&self, pool: &str) -> Vec<(Level, String, bool)> {
            let seen = self.0.lock().unwrap();
            let call_span = |id: Option<u64>| {
                seen.spans.iter().any(|(i, name, f)| {
                    Some(*i) == id
                        && *name == "call"
                        && f.get("pool").map(String::as_str) == Some(pool)
                })
            };
            seen.events
                .iter()
                .filter(|(_, f, _)| {
                    f.get("message").map(String::as_str) == Some("call rejected")
                        && f.get("pool").map(String::as_str) == Some(pool)
                })
                .map(|(level, f, span)| (*level, f["reason"].clone(), call_span(*span)))
                .collect()
        }
    }

    fn row(call: &str, weight: i64, wait_us: &str, nested: &str, outcome: &str) -> [String; 5] {
        [
            call.into(),
            weight.to_string(),
            wait_us.into(),
            nested.into(),
            outcome.into(),
        ]
    }

    /// pool-runtime/src/observe.rs (the tracing table): span `call` "one per
    /// call, from its first poll to its end", fields `pool`, `call` (`submit`,
    /// `spawn`, `run`, `blocking`, `permit`), `weight`; "recorded later:
    /// `wait_us` (admission), `nested` (`true` if it ran under its parent's
    /// slot), `outcome`"; and "Its wait is measured on the pool's
    /// [`Clock`]: 0 for a call admitted at once".
    ///
    /// The sync paths: a `run_weighted` that parks this thread while 7 ms of
    /// the pool's (manual) clock pass, and a `run` nested in a `run`'s work.
    #[test]
    fn sync_calls_spans_carry_their_wait_on_the_pools_clock_nesting_and_outcome() {
        let _serial = serial();
        let capture = Capture::default();
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .name("acc22-sync-spans")
            .order(Order::Priority)
            .size(1)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        capture.run(|| {
            let held = pool.try_acquire_owned(0).unwrap();
            // The slot goes back from another thread once this one parks.
            let releaser = {
                let pool = pool.clone();
                let clock = clock.clone();
                std::thread::spawn(move || {
                    let start = std::time::Instant::now();
                    while pool.stats().waiting != 1 {
                        assert!(start.elapsed() < BOUND, "the sync call never queued");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    clock.advance(Duration::from_millis(7));
                    drop(held);
                })
            };
            assert_eq!(pool.run_weighted(4, || 1), Ok(1));
            releaser.join().unwrap();
            assert_eq!(pool.run(|| pool.run_weighted(-9, || 2)), Ok(Ok(2)));
        });
        let calls = capture.calls("acc22-sync-spans");
        assert_eq!(
            calls,
            [
                row("permit", 0, "0", "-", "completed"),
                row("run", 4, "7000", "-", "completed"),
                row("run", 0, "0", "-", "completed"),
                row("run", -9, "0", "true", "completed"),
            ]
        );
        assert_accounted(&pool.stats());
    }

    /// As above (observe.rs), for a `try_acquire` turned away: "event `call
    /// rejected` (inside the call's span) | DEBUG | `pool`, `reason`
    /// (`paused`, `closed`, `full`, `timed_out`)", and the span's `outcome`
    /// `rejected`. `Pool::try_acquire`: "[`Rejected::Full`] if no slot is
    /// free (as if no call could wait)".
    #[test]
    fn a_try_acquire_turned_away_full_has_its_span_and_its_event() {
        let _serial = serial();
        let capture = Capture::default();
        let pool = Pool::builder()
            .name("acc22-try-full")
            .size(1)
            .build()
            .unwrap();
        capture.run(|| {
            let held = pool.try_acquire().unwrap();
            assert!(matches!(pool.try_acquire(), Err(Rejected::Full)));
            assert!(matches!(pool.try_acquire_owned(5), Err(Rejected::Full)));
            drop(held);
        });
        assert_eq!(
            capture.calls("acc22-try-full"),
            [
                row("permit", 0, "0", "-", "completed"),
                row("permit", 0, "-", "-", "rejected"),
                row("permit", 5, "-", "-", "rejected"),
            ]
        );
        assert_eq!(
            capture.rejections("acc22-try-full"),
            [
                (Level::DEBUG, "full".to_owned(), true),
                (Level::DEBUG, "full".to_owned(), true)
            ]
        );
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Full), 2);
        assert_eq!(stats.waiting, 0);
        assert_accounted(&stats);
    }

    /// As above (observe.rs), for `Pool::spawn` (`call` = `spawn`): the call
    /// "takes its place in the queue now" (`Pool::spawn`), so its wait runs
    /// from the spawn to its admission, on the pool's clock (3 ms here).
    #[cfg(feature = "tokio")]
    #[test]
    fn a_spawned_calls_span_carries_its_weight_and_its_wait_from_the_spawn() {
        let _serial = serial();
        let capture = Capture::default();
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .name("acc22-spawn-span")
            .order(Order::Priority)
            .size(1)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        capture.run(|| {
            rt.block_on(async {
                let held = pool.try_acquire().unwrap();
                let handle = pool.spawn_weighted(-2, async { 5 }).unwrap();
                assert_eq!(pool.stats().waiting, 1, "queued at the spawn");
                clock.advance(Duration::from_millis(3));
                drop(held);
                let out = tokio::time::timeout(BOUND, handle).await.expect("hung");
                assert_eq!(out, Ok(5));
            })
        });
        assert_eq!(
            capture.calls("acc22-spawn-span"),
            [
                row("permit", 0, "0", "-", "completed"),
                row("spawn", -2, "3000", "-", "completed"),
            ]
        );
        assert_accounted(&pool.stats());
    }
}

// ---- the tower layer's modes, admitted at once ------------------------------

/// Allocations of 500 uncontended calls through `service` (after one
/// outside the window), each completing at its first poll.
#[cfg(feature = "tower")]
fn allocations_of_tower_calls<S>(mut service: S) -> usize
where
    S: tower::Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut call = |x: u64| {
        assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let mut response = std::pin::pin!(service.call(x));
        match response.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(y)) => y,
            other => panic!("an uncontended call completes at once: {other:?}"),
        }
    };
    assert_eq!(call(0), 1);
    let (sum, allocations) = allocations_of(|| (1..=500).map(&mut call).sum::<u64>());
    assert_eq!(sum, (2..=501).sum::<u64>());
    allocations
}

/// README, "Proof": "what does allocate per call is (...) a call of the
/// tower layer's waiting mode that has to wait (its acquire future is
/// boxed; one admitted at once, over a pool or a group without a ceiling or
/// a fleet limit, allocates nothing)". The layer's other modes admit a call
/// at once the same way (tower.rs: `reject` "no waiting", `weight` /
/// `constant_weight` "a weight per request"), so an uncontended call
/// through each allocates nothing either; the default mode is the control.
#[cfg(feature = "tower")]
#[test]
fn every_tower_mode_allocates_nothing_for_a_call_admitted_at_once() {
    let _serial = serial();
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer};
    let inner = service_fn(|x: u64| async move { Ok::<_, BoxError>(x + 1) });
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(2)
        .build()
        .unwrap();
    let layers = [
        (
            "default",
            allocations_of_tower_calls(PooledLayer::pool(pool.clone()).layer(inner)),
        ),
        (
            "reject",
            allocations_of_tower_calls(PooledLayer::pool(pool.clone()).reject().layer(inner)),
        ),
        (
            "constant_weight",
            allocations_of_tower_calls(
                PooledLayer::pool(pool.clone())
                    .constant_weight(-3)
                    .layer(inner),
            ),
        ),
        (
            "weight",
            allocations_of_tower_calls(
                PooledLayer::pool(pool.clone())
                    .weight(|x: &u64| *x as i64)
                    .layer(inner),
            ),
        ),
        (
            "weight + reject",
            allocations_of_tower_calls(
                PooledLayer::pool(pool.clone())
                    .weight(|x: &u64| *x as i64)
                    .reject()
                    .layer(inner),
            ),
        ),
    ];
    for (mode, allocations) in layers {
        assert_eq!(allocations, 0, "{mode}: 500 calls admitted at once");
    }
    let stats = pool.stats();
    assert_eq!(stats.completed, 5 * 501);
    assert_accounted(&stats);
}

/// pool-runtime/src/integrations/stream.rs:34-39 (module docs, "How much of
/// the stream is pulled"): "Why twice the size: (...) an autoscaled pool
/// sees the stream's backlog (the queue-depth rule grows the pool toward
/// `running + waiting`, at most doubling it, so a stream that never queued
/// would never make it grow)"; "after a scale-up it pulls more at its next
/// poll".
///
/// A stream alone on an autoscaled pool (1 to 8 slots, starting at 1,
/// evaluated every second of a manual clock) of quick items: its backlog
/// grows the pool to its max (at most doubling per step), and the stream
/// then holds up to 16 items.
#[cfg(feature = "stream")]
#[test]
fn a_streams_backlog_alone_grows_an_autoscaled_pool_to_its_max() {
    let _serial = serial();
    use futures::Stream as _;
    use pool_runtime::{AutoscaleTiming, PooledStreamExt};
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    pool.set_autoscale_timing(AutoscaleTiming {
        interval: Duration::from_secs(1),
        window: 4,
    })
    .unwrap();
    let stream =
        futures::stream::iter((0..3000u64).map(|i| YieldThen(false, i))).pooled_unordered(&pool);
    let mut stream = std::pin::pin!(stream);
    let mut cx = Context::from_waker(Waker::noop());
    let (mut sizes, mut held, mut sum) = (Vec::new(), 0, 0);
    for _ in 0..1_000_000 {
        match stream.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(out)) => sum += out.unwrap(),
            Poll::Ready(None) => break,
            Poll::Pending => {}
        }
        clock.advance(Duration::from_millis(50));
        if sizes.last() != Some(&pool.size()) {
            sizes.push(pool.size());
        }
        held = held.max(stream.in_flight());
    }
    assert_eq!(sum, 3000 * 2999 / 2, "every item ran");
    assert_eq!(
        sizes.iter().max(),
        Some(&8),
        "sizes the pool went through: {sizes:?}"
    );
    for pair in sizes.windows(2) {
        assert!(
            pair[1] <= 2 * pair[0],
            "at most doubling per step: {sizes:?}"
        );
    }
    // (Read between polls, after an item was yielded: one below the most
    // held inside a poll.)
    assert!((15..=16).contains(&held), "twice the grown size: {held}");
    assert_accounted(&pool.stats());
}

/// README, "How it works": "**Hand-off, no barging.** A freed slot goes
/// straight to the next waiter chosen by the order; a newcomer never
/// overtakes a queued call, and only that one waiter is woken"; `scale`:
/// "Growing admits waiting calls at once".
///
/// On each of the six pools, five calls wait behind the one slot: a
/// release wakes exactly the waiter the order names (and a newcomer polled
/// before it runs queues behind), and `scale(2)` wakes exactly two more.
#[test]
fn a_release_wakes_only_the_waiter_it_is_handed_to_on_all_six_pools() {
    let _serial = serial();
    let weights = [4i64, 2, 2, 7, 1];
    for (kind, order, pool) in six_pools() {
        let what = format!("{kind:?} {order:?}");
        let holder = pool.try_acquire().unwrap();
        let mut waiting: Vec<_> = weights
            .iter()
            .map(|&w| {
                let mut task = Task::new(pool.acquire_weighted(w));
                task.assert_pending();
                task
            })
            .collect();
        drop(holder);
        let woken: Vec<usize> = (0..5).filter(|&i| waiting[i].is_woken()).collect();
        let first = admission_order(order, &weights)[0] as usize;
        assert_eq!(woken, [first], "{what}: one release, one waiter woken");
        // A newcomer (of the smallest weight) finds no free slot: the woken
        // waiter owns it.
        assert!(
            matches!(pool.try_acquire_owned(-100), Err(Rejected::Full)),
            "{what}: the slot is the woken waiter's"
        );
        let permit = match waiting[first].poll() {
            Poll::Ready(Ok(permit)) => permit,
            other => panic!(
                "{what}: the woken waiter holds the slot: {:?}",
                other.map(|r| r.map(drop))
            ),
        };
        assert_eq!(pool.scale(2), 3);
        let woken: Vec<usize> = (0..5)
            .filter(|&i| i != first && waiting[i].is_woken())
            .collect();
        let mut next: Vec<usize> = admission_order(order, &weights)[1..3]
            .iter()
            .map(|&id| id as usize)
            .collect();
        next.sort();
        assert_eq!(
            woken, next,
            "{what}: two more slots, two more waiters woken"
        );
        drop(permit);
        drop(waiting);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{what}");
        assert_accounted(&stats);
    }
}

// ---- a fixed pool's quiet calls read no clock --------------------------------

/// A clock that counts its readings.
#[derive(Clone, Default)]
struct CountingClock(Arc<std::sync::atomic::AtomicUsize>);

impl pool_runtime::Clock for CountingClock {
    fn now(&self) -> Duration {
        self.0.fetch_add(1, SeqCst);
        Duration::ZERO
    }
}

/// README, "Fitting the stack": features `tracing` and `metrics` "cost
/// something even with nobody listening (...) — no allocation, no
/// formatting, no clock read"; observe.rs: "whether a call is traced or
/// timed is decided once, at its first poll (...), and a quiet call then
/// only updates its pool's metric handles"; core.rs (`autoscale_if_due`):
/// "nothing at all for fixed pools".
///
/// With no subscriber, no recorder and timing off, the calls of a fixed
/// pool (of each order) never read its clock: uncontended `submit`, `run`,
/// permits, a nested call, and calls that queue, are handed a slot, or are
/// cancelled while they wait.
#[test]
fn quiet_calls_of_a_fixed_pool_never_read_its_clock() {
    let _serial = serial();
    #[cfg(feature = "metrics")]
    pool_runtime::observe::time_calls(false);
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let clock = CountingClock::default();
        let pool = Pool::builder()
            .order(order)
            .size(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        let reads_at_build = clock.0.load(SeqCst);
        futures::executor::block_on(async {
            assert_eq!(pool.submit_weighted(3, async { 1 }).await, Ok(1));
            assert_eq!(pool.run(|| 2), Ok(2));
            drop(pool.acquire().await.unwrap());
            drop(pool.try_acquire_owned(2).unwrap());
            let nested = pool.submit(async { pool.submit(async { 3 }).await }).await;
            assert_eq!(nested, Ok(Ok(3)));
        });
        // Queued behind a permit: one handed the slot, one cancelled.
        let held = pool.try_acquire().unwrap();
        let mut handed = Task::new(pool.submit_weighted(1, async { 4 }));
        handed.assert_pending();
        let mut cancelled = Task::new(pool.submit_weighted(2, async { 5 }));
        cancelled.assert_pending();
        drop(held);
        let out = if handed.is_woken() {
            let out = handed.assert_ready();
            drop(cancelled);
            out
        } else {
            // (LIFO hands it to the newer call.)
            assert!(cancelled.is_woken());
            let out = cancelled.assert_ready();
            drop(handed);
            out
        };
        assert!(out.is_ok());
        assert_eq!(
            clock.0.load(SeqCst) - reads_at_build,
            0,
            "{order:?}: quiet calls of a fixed pool read its clock"
        );
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting, stats.cancelled), (0, 0, 1));
        assert_accounted(&stats);
    }
}

// ---- a service dropped with a reserved slot ----------------------------------

/// As an inner service, a [`CallsOnDrop`] is one whose `Drop` (each
/// clone's) makes a sync call of its pool (a client that flushes through
/// the same bulkhead, say), and records its outcome.
#[cfg(feature = "tower")]
impl tower::Service<u64> for CallsOnDrop {
    type Response = u64;
    type Error = pool_runtime::tower::BoxError;
    type Future = std::future::Ready<Result<u64, Self::Error>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, n: u64) -> Self::Future {
        std::future::ready(Ok(n))
    }
}

/// README, "Fitting the stack" (tower): "The inner service runs as the
/// call's work"; README, "How it works" (the ceiling's paragraph): "A call
/// dropped or turned away gives its slots (...) back before its work,
/// closure or arguments are dropped, so their `Drop` may call a group";
/// `PooledService` (service.rs, "Cancel safety"): "Dropping a service that
/// holds a reserved slot (ready but not called) releases the slot, as a
/// cancelled call".
///
/// A service over a pool of one slot, readied (the slot reserved for its
/// next call), then dropped: its inner service's `Drop` makes a sync call
/// of the same pool. It must run (after the reserved slot is released, or
/// under it), not wait for good for the slot the dropped service holds.
/// The control: the same service dropped before it was readied.
#[cfg(feature = "tower")]
#[test]
fn a_ready_service_dropped_lets_its_inner_services_drop_call_the_pool() {
    let _serial = serial();
    use pool_runtime::tower::PooledLayer;
    use tower::{Layer, Service};
    let scenario = |ready_first: bool| {
        let pool = Pool::fixed(1);
        let flushed = Arc::new(Mutex::new(None));
        let mut service = PooledLayer::pool(pool.clone()).layer(CallsOnDrop {
            pool: pool.clone(),
            outcome: flushed.clone(),
        });
        if ready_first {
            let mut cx = Context::from_waker(Waker::noop());
            assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
            assert_eq!(pool.stats().running, 1, "the slot is reserved");
        }
        let pool_after = pool.clone();
        drop(service);
        let stats = pool_after.stats();
        let outcome = flushed.lock().unwrap().take();
        (outcome, stats)
    };
    let (flushed, stats) = common::within(BOUND, move || scenario(false));
    assert_eq!(flushed, Some(Ok(())), "the control: never readied");
    assert_eq!((stats.running, stats.completed), (0, 1));
    let (flushed, stats) = common::within(BOUND, move || scenario(true));
    assert_eq!(flushed, Some(Ok(())), "readied, then dropped");
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
    assert_eq!(
        stats.cancelled, 1,
        "the reserved slot ended as a cancelled call"
    );
    assert_accounted(&stats);
}

/// README, "Fitting the stack" (tower): "The inner service runs as the
/// call's work, and so does a held body's streaming: a handler (or a body)
/// calling the same pool or group makes a nested call (...) instead of
/// waiting for a second slot"; tower.rs (module docs): "The inner service's
/// response future is polled as the work of the call holding the slot, and
/// so is its `call` (and, for a weighted layer, which takes the slot before
/// readying the inner service, its `poll_ready`...)".
///
/// A weighted layer readies and calls a clone of the inner service per
/// call: on a pool of one slot, an inner service whose `Drop` makes a sync
/// call of the same pool (each clone's, as a client flushing through its
/// own bulkhead). The call must complete, its clone's flush must run (as a
/// nested call of the slot the call holds, or after it is released), not
/// wait for good for the slot its own call holds. The control: the same
/// call through the default (constant-weight) layer, which calls the inner
/// service itself and drops no clone.
#[cfg(feature = "tower")]
#[test]
fn a_weighted_calls_clone_of_the_inner_service_may_call_the_pool_when_dropped() {
    let _serial = serial();
    use pool_runtime::tower::PooledLayer;
    use tower::{Layer, Service};
    let scenario = |weighted: bool| {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let flushed = Arc::new(Mutex::new(None));
        let inner = CallsOnDrop {
            pool: pool.clone(),
            outcome: flushed.clone(),
        };
        let mut cx = Context::from_waker(Waker::noop());
        let out = if weighted {
            let mut service = PooledLayer::pool(pool.clone())
                .weight(|n: &u64| *n as i64)
                .layer(inner);
            assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
            let mut response = std::pin::pin!(service.call(5));
            let out = response.as_mut().poll(&mut cx);
            std::mem::forget(service); // its own inner service: not this test's
            out.map(|r| r.unwrap())
        } else {
            let mut service = PooledLayer::pool(pool.clone()).layer(inner);
            assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
            let mut response = std::pin::pin!(service.call(5));
            let out = response.as_mut().poll(&mut cx);
            std::mem::forget(service);
            out.map(|r| r.unwrap())
        };
        let outcome = flushed.lock().unwrap().take();
        (out, outcome, pool.stats())
    };
    let (out, flushed, stats) = common::within(BOUND, move || scenario(false));
    assert_eq!(out, Poll::Ready(5), "the control");
    assert_eq!(flushed, None, "the control drops no clone");
    assert_eq!((stats.running, stats.completed), (0, 1));
    let (out, flushed, stats) = common::within(BOUND, move || scenario(true));
    assert_eq!(out, Poll::Ready(5), "weighted");
    assert_eq!(flushed, Some(Ok(())), "the clone's flush ran");
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
    assert_accounted(&stats);
}

// ---- a blocking job dropped unrun --------------------------------------------

/// Drops every job unrun (an executor shutting down).
struct DropsJobs;

impl pool_runtime::BlockingExecutor for DropsJobs {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        drop(job);
    }
}

/// Makes a sync call of its pool when dropped, and records its outcome.
#[derive(Clone)]
struct CallsOnDrop {
    pool: Pool,
    outcome: Arc<Mutex<Option<Result<(), Rejected>>>>,
}

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        let outcome = self.pool.run(|| ());
        *self.outcome.lock().unwrap() = Some(outcome);
    }
}

/// README, "How it works": "A call dropped or turned away gives its slots
/// (its group's, the ceiling's, a fleet lease) back before its work,
/// closure or arguments are dropped, so their `Drop` may call a group";
/// `Pool::submit_blocking`: "[`Rejected::Closed`] if the executor drops the
/// job unrun"; `Stats::rejected_for`: such a call "had been admitted and held
/// a slot, so it is counted in `cancelled`".
///
/// On a pool of one slot whose executor drops jobs, a blocking call's
/// closure owns a value whose `Drop` makes a sync call of the pool: the
/// caller gets `Closed`, and that call runs (the slot was given back
/// before the closure was dropped) instead of waiting for good.
#[test]
fn a_blocking_job_dropped_unrun_gives_its_slot_back_before_its_closure() {
    let _serial = serial();
    let outcome = Arc::new(Mutex::new(None));
    let (out, stats) = common::within(BOUND, {
        let outcome = outcome.clone();
        move || {
            let pool = Pool::builder()
                .size(1)
                .blocking_executor(Arc::new(DropsJobs))
                .build()
                .unwrap();
            let guard = CallsOnDrop {
                pool: pool.clone(),
                outcome,
            };
            let out = futures::executor::block_on(pool.submit_blocking(move || {
                let _keep = &guard;
                1
            }));
            (out, pool.stats())
        }
    });
    assert_eq!(out, Err(Rejected::Closed));
    assert_eq!(
        *outcome.lock().unwrap(),
        Some(Ok(())),
        "the closure's Drop called the pool"
    );
    assert_eq!((stats.running, stats.waiting), (0, 0));
    assert_eq!(
        (stats.cancelled, stats.completed),
        (1, 1),
        "the job cancelled, the Drop's call completed"
    );
    assert_accounted(&stats);
}

// ---- the errors' texts -------------------------------------------------------

/// README, "Two commands" (the main example's output): "paused pool:
/// request 99 rejected (task pool is paused)"; `Rejected` (rejected.rs):
/// one variant per reason, each "a value, never a panic", with
/// `as_str` names; `ShutdownTimedOut` (shutdown.rs): "the calls still
/// waiting were turned away (...); the ones still running were left to
/// finish", with its counts.
///
/// Each reason's text is its own and says what happened; a shutdown that
/// timed out says how many calls run, how many of them nested, and how
/// many waiting ones it turned away.
#[test]
fn the_errors_texts_say_what_happened() {
    let _serial = serial();
    assert_eq!(Rejected::Paused.to_string(), "task pool is paused");
    let texts: Vec<String> = Rejected::ALL.iter().map(|r| r.to_string()).collect();
    for (reason, text) in Rejected::ALL.iter().zip(&texts) {
        assert!(!text.is_empty(), "{reason:?}");
        assert_eq!(
            texts.iter().filter(|t| *t == text).count(),
            1,
            "{reason:?}: {text}"
        );
    }
    assert!(
        texts[1].contains("closed") && texts[2].contains("full"),
        "{texts:?}"
    );
    assert!(texts[3].contains("timed out"), "{texts:?}");

    // One call running with a nested call under its slot, two waiting:
    // a shutdown with a deadline past which they still are.
    let pool = Pool::fixed(1);
    let (gate, open) = common::gate();
    let (inner_gate, inner_open) = common::gate();
    let mut running = Task::new(pool.submit(async {
        let nested = pool.submit(inner_gate);
        futures::join!(nested, gate).0
    }));
    running.assert_pending();
    let mut waiting: Vec<_> = (0..2).map(|_| Task::new(pool.submit(async {}))).collect();
    for task in &mut waiting {
        task.assert_pending();
    }
    let stats = pool.stats();
    assert_eq!((stats.running, stats.nested, stats.waiting), (1, 1, 2));
    let error = futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(50))))
        .expect_err("the calls still run past the deadline");
    assert_eq!(
        (
            error.running,
            error.nested,
            error.turned_away,
            error.waiting
        ),
        (1, 1, 2, 0)
    );
    let text = error.to_string();
    assert!(
        text.contains("2 call(s) still running (1 nested)"),
        "{text}"
    );
    assert!(text.contains("2 waiting call(s) turned away"), "{text}");
    for task in &mut waiting {
        assert_eq!(task.poll(), Poll::Ready(Err(Rejected::Closed)));
    }
    inner_open.store(true, SeqCst);
    open.store(true, SeqCst);
    assert_eq!(running.poll(), Poll::Ready(Ok(Ok(()))));
    assert_accounted(&pool.stats());
}

/// README, "Proof": "A `submit`, a permit or a sync call allocates nothing,
/// uncontended, queued or parked"; `GroupSettings::sync_barging`: with it,
/// "a sync call that finds no free slot first waits *outside* the queue,
/// for up to `bound`", and "A call still waiting after `bound` takes its
/// place in the order (the queue)".
///
/// On a barging pool of one slot held by another thread, sync calls that
/// wait in the room and take the slot when it frees, and sync calls that
/// outwait the bound and queue, allocate nothing on their thread once it
/// has waited once.
#[test]
fn sync_calls_waiting_outside_the_queue_allocate_nothing_once_warm() {
    let _serial = serial();
    let pool = Pool::builder()
        .size(1)
        .sync_barging(Duration::from_millis(20))
        .build()
        .unwrap();
    // One round: the slot held by another thread, released once this
    // thread has waited `hold_for` (in the room, or past the bound in the
    // queue); this thread's call then takes it.
    let round = |hold_for: Duration| {
        let (entered, is_held) = mpsc::channel::<()>();
        let holder = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                pool.run(|| {
                    entered.send(()).unwrap();
                    let start = std::time::Instant::now();
                    while pool.stats().waiting == 0 && start.elapsed() < BOUND {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    std::thread::sleep(hold_for);
                })
                .unwrap();
            })
        };
        is_held.recv_timeout(BOUND).unwrap();
        let (out, allocations) = allocations_of(|| pool.run(|| 7));
        holder.join().unwrap();
        assert_eq!(out, Ok(7));
        allocations
    };
    let _warm = (
        round(Duration::from_millis(2)),
        round(Duration::from_millis(60)),
    );
    let in_room = round(Duration::from_millis(2));
    let queued = round(Duration::from_millis(60));
    assert_eq!(
        (in_room, queued),
        (0, 0),
        "a sync call that waited in the room, then one that queued"
    );
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting, stats.completed), (0, 0, 8));
    assert_accounted(&stats);
}

// ---- a completed work's Drop calling its pool --------------------------------

/// README, "How it works" (reentrancy rule): "A call into a pool from
/// inside work that holds one of its slots (...) may run under its
/// parent's slot instead of waiting for a second one, so nested calls never
/// deadlock a full pool"; "When a running call is cancelled, its work is
/// dropped under its slot, so a `Drop` that calls the same pool runs as a
/// nested call instead of waiting for a slot it holds itself"; "Accounting":
/// "a work whose `Drop` panics once its output is ready, is a panicked
/// call" (the work is dropped as part of the call, holding its slot).
///
/// On a pool of one slot, a work made with `std::future::poll_fn` whose
/// closure owns a value whose `Drop` makes a sync call of the same pool (a
/// connection handed back through the bulkhead, say): cancelled while it
/// runs (the control), that call runs nested; run to completion, the call
/// it makes when the call drops it must run too (nested, or after the
/// slot is released), not wait for good for the slot the call holds.
#[test]
fn a_completed_works_drop_may_call_its_pool() {
    let _serial = serial();
    let scenario = |complete: bool| {
        let pool = Pool::fixed(1);
        let outcome = Arc::new(Mutex::new(None));
        let guard = CallsOnDrop {
            pool: pool.clone(),
            outcome: outcome.clone(),
        };
        let work = std::future::poll_fn(move |_| {
            let _keep = &guard;
            if complete {
                Poll::Ready(1)
            } else {
                Poll::Pending
            }
        });
        let mut call = Task::new(pool.submit(work));
        let out = call.poll();
        drop(call);
        let stats = pool.stats();
        let outcome = outcome.lock().unwrap().take();
        (out, outcome, stats)
    };
    let (out, outcome, stats) = common::within(BOUND, move || scenario(false));
    assert_eq!(out, Poll::Pending, "the control: still running");
    assert_eq!(
        outcome,
        Some(Ok(())),
        "the control: cancelled, its Drop's call ran nested"
    );
    assert_eq!((stats.running, stats.cancelled, stats.completed), (0, 1, 1));
    let (out, outcome, stats) = common::within(BOUND, move || scenario(true));
    assert_eq!(out, Poll::Ready(Ok(1)));
    assert_eq!(outcome, Some(Ok(())), "completed: its Drop's call ran");
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
    assert_eq!(stats.completed, 2, "the call and its Drop's call");
    assert_accounted(&stats);
}

/// As above (README, reentrancy rule: "nested calls never deadlock a full
/// pool"), through the tower layer with `hold_until_body_ends`: tower.rs,
/// "The inner service's response future is polled as the work of the call
/// holding the slot, and so is (...) with `hold_until_body_ends`, the
/// response body's `poll_frame` while it holds the slot".
///
/// On a pool of one slot, an inner service whose response future (a
/// `poll_fn`) owns a value whose `Drop` makes a sync call of the same
/// pool: once the response is out (its body holding the slot), dropping the
/// spent response future must not wait for good for the slot the body
/// holds. The control: the same service without `hold_until_body_ends`,
/// whose slot is released with the response.
#[cfg(feature = "tower")]
#[test]
fn a_spent_response_futures_drop_may_call_its_pool_while_the_body_holds_the_slot() {
    let _serial = serial();
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{Layer, Service};
    let scenario = |hold_body: bool| {
        let pool = Pool::fixed(1);
        let outcome = Arc::new(Mutex::new(None));
        let inner = {
            let (pool, outcome) = (pool.clone(), outcome.clone());
            tower::service_fn(move |()| {
                let guard = CallsOnDrop {
                    pool: pool.clone(),
                    outcome: outcome.clone(),
                };
                std::future::poll_fn(move |_| {
                    let _keep = &guard;
                    Poll::Ready(Ok::<_, BoxError>(http::Response::new(String::from("body"))))
                })
            })
        };
        let mut cx = Context::from_waker(Waker::noop());
        let holds = if hold_body {
            let mut service = PooledLayer::pool(pool.clone())
                .hold_until_body_ends()
                .layer(inner);
            assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
            let mut response = Box::pin(service.call(()));
            let Poll::Ready(Ok(response_out)) = response.as_mut().poll(&mut cx) else {
                panic!("the response is ready");
            };
            let holds = response_out.body().holds_slot();
            drop(response); // the spent response future
            drop(response_out); // then the body, unread
            holds
        } else {
            let mut service = PooledLayer::pool(pool.clone()).layer(inner);
            assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
            let mut response = Box::pin(service.call(()));
            assert!(matches!(
                response.as_mut().poll(&mut cx),
                Poll::Ready(Ok(_))
            ));
            drop(response);
            false
        };
        let outcome = outcome.lock().unwrap().take();
        (holds, outcome, pool.stats())
    };
    let (_, outcome, stats) = common::within(BOUND, move || scenario(false));
    assert_eq!(
        outcome,
        Some(Ok(())),
        "the control: released with the response"
    );
    assert_eq!((stats.running, stats.completed), (0, 2));
    let (holds, outcome, stats) = common::within(BOUND, move || scenario(true));
    assert!(holds, "the body held the slot");
    assert_eq!(outcome, Some(Ok(())), "the spent future's Drop's call ran");
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
    assert_accounted(&stats);
}
