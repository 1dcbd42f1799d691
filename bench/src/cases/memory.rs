//! Case 6: what a call costs in memory.
//!
//! * Bytes a waiting call adds beyond the caller's own future: the size of the
//!   call's future minus the submitted future, plus whatever the heap gains
//!   while the call starts waiting (its first poll), in steady state (the
//!   queue has held as many calls before). The same measure is taken of the
//!   worker-queue pool, and of a tokio task per waiting call.
//! * Heap allocations per submit in steady state, counted by the bench's
//!   global allocator over whole workloads, minus the same workload run with
//!   no limit at all (so the runtime's and the harness's own allocations, like
//!   spawning the submitting tasks, cancel out).

use crate::alloc_counter;
use crate::cases::contended::{pool as contended_pool, TASKS, WEIGHTS};
use crate::gate::{contended, sequential, Gate, PoolGate, SemaphoreGate, Unthrottled};
use crate::options::Options;
use crate::peers::{
    AsyncLockGate, IntrusiveGate, PrioritySemaphoreGate, RankedSemaphoreGate, TowerLimitGate,
};
use crate::report::{Row, Table, Target, Unit};
use crate::rng::Rng;
use crate::runtimes::{self, Flavor};
use crate::worker_queue::WorkerQueuePool;
use pooled::{Order, Pool};
use std::cell::Cell;
use std::future::{ready, Future, Ready};
use std::mem::{size_of, size_of_val};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Waker};
use tokio::sync::Semaphore;

/// Waiting calls per measurement of bytes per waiting call.
const WAITING: usize = 1_000;
/// The bytes-per-waiting-call target of issue 5.
const MAX_ADDED_BYTES: f64 = 64.0;

/// The submitted future in the byte counts: a typical 8-aligned future.
type Work = Ready<u64>;

fn work() -> Work {
    ready(7)
}

/// Bytes `submit` adds inline to a future of `work`'s type.
fn inline_added<F: Future>(pool: &Pool, work: F) -> usize {
    let inner = size_of_val(&work);
    let call = pool.submit(work);
    size_of_val(&call) - inner
}

/// Heap bytes per call while `WAITING` calls start waiting: each `start`ed
/// future is boxed first (not counted), then polled once (counted).
fn heap_per_waiting_call<'a, T: Future + 'a>(mut start: impl FnMut(usize) -> T) -> f64 {
    let mut cx = Context::from_waker(Waker::noop());
    let mut calls: Vec<Pin<Box<T>>> = (0..WAITING).map(|i| Box::pin(start(i))).collect();
    let ((), allocated) = alloc_counter::count(|| {
        for call in &mut calls {
            assert!(call.as_mut().poll(&mut cx).is_pending(), "the call waits");
        }
    });
    allocated.bytes as f64 / WAITING as f64
}

/// A pool call of [`Work`] waiting in a one-slot pool of `order`: inline +
/// heap bytes beyond the work.
fn pooled_waiting_bytes(order: Order) -> f64 {
    let pool = Pool::builder()
        .order(order)
        .size(1)
        .build()
        .expect("a valid pool");
    let mut cx = Context::from_waker(Waker::noop());
    let released = Cell::new(false);
    let hold = crate::gate::held_until(&released);
    let mut holder = pin!(pool.submit(hold));
    assert!(holder.as_mut().poll(&mut cx).is_pending());
    let mut rng = Rng::new(6);
    // Steady state: the queue has been this deep before (the first batch, then
    // cancelled, warms whatever the queue keeps); the second batch is counted.
    let mut heap = 0.0;
    for _ in 0..2 {
        heap = heap_per_waiting_call(|_| pool.submit_weighted(rng.below(WEIGHTS) as i64, work()));
    }
    released.set(true);
    inline_added(&pool, work()) as f64 + heap
}

/// The same call waiting in the worker-queue pool (no workers, so it waits).
fn worker_queue_waiting_bytes() -> f64 {
    let pool = WorkerQueuePool::start(0);
    let submitter = pool.submitter();
    let inline = size_of_val(&submitter.submit(work())) - size_of::<Work>();
    let heap = heap_per_waiting_call(|_| submitter.submit(work()));
    inline as f64 + heap
}

/// A waiting call as a tokio task of its own (the seed's `submit(.., blocking=False)`
/// done with tokio alone): the heap bytes of `tokio::spawn` of a future waiting
/// for a Semaphore permit, minus the work.
fn tokio_task_waiting_bytes() -> f64 {
    let runtime = Flavor::CurrentThread.runtime();
    runtime.block_on(async {
        let semaphore = Arc::new(Semaphore::new(0));
        let mut tasks = Vec::with_capacity(WAITING);
        let ((), allocated) = alloc_counter::count(|| {
            for _ in 0..WAITING {
                let semaphore = semaphore.clone();
                tasks.push(tokio::spawn(async move {
                    let _permit = semaphore.acquire().await;
                    work().await
                }));
            }
        });
        for task in &tasks {
            task.abort();
        }
        allocated.bytes as f64 / WAITING as f64 - size_of::<Work>() as f64
    })
}

/// The body of a waiting call through a [`Gate`]: a unit future the size of
/// [`Work`] (a `u64` and its state), since a gate's body returns `()`.
fn unit_work() -> impl Future<Output = ()> + Send + 'static {
    let value = 7_u64;
    async move {
        std::hint::black_box(value);
    }
}

/// A call through `gate` (whose every permit is taken, so it waits) in the
/// form a user writes it (`let _permit = limiter.acquire().await; body.await`
/// for the peers): inline + heap bytes beyond the body, in steady state.
fn gate_waiting_bytes<G: Gate>(gate: &G) -> f64 {
    let inline = size_of_val(&gate.call(0, unit_work())) - size_of_val(&unit_work());
    let mut heap = 0.0;
    for _ in 0..2 {
        heap = heap_per_waiting_call(|_| gate.call(0, unit_work()));
    }
    inline as f64 + heap
}

/// [`gate_waiting_bytes`] of the pool itself, behind [`PoolGate`]: a FIFO
/// pool of one slot, held.
fn pool_gate_waiting_bytes() -> f64 {
    let pool = Pool::fixed(1);
    let mut cx = Context::from_waker(Waker::noop());
    let released = Cell::new(false);
    let mut holder = pin!(pool.submit(crate::gate::held_until(&released)));
    assert!(holder.as_mut().poll(&mut cx).is_pending());
    let bytes = gate_waiting_bytes(&PoolGate(pool.clone()));
    released.set(true);
    bytes
}

/// A workload of case 1 or case 2 shape.
#[derive(Debug, Clone, Copy)]
enum Workload {
    /// One task, this many calls.
    Sequential(usize),
    /// [`TASKS`] tasks, this many calls each, weights in `0..weights`.
    Contended { per_task: usize, weights: u64 },
}

impl Workload {
    fn calls(self) -> usize {
        match self {
            Workload::Sequential(calls) => calls,
            Workload::Contended { per_task, .. } => TASKS * per_task,
        }
    }

    fn run<G: Gate>(self, runtime: &tokio::runtime::Runtime, gate: G) {
        match self {
            Workload::Sequential(calls) => runtimes::run(runtime, sequential(gate, calls)),
            Workload::Contended { per_task, weights } => {
                runtimes::run(runtime, contended(gate, TASKS, per_task, weights))
            }
        };
    }
}

/// Heap allocations per call of `gate` under `workload`, minus the same
/// workload unthrottled. Each runs once to warm up, then is counted
/// [`COUNTED_RUNS`] times, keeping the fewest: the runtime allocates now and
/// then on its own (a worker parking, a timer), which is not steady state.
fn allocations_per_call<G: Gate>(flavor: Flavor, workload: Workload, gate: G) -> f64 {
    let runtime = flavor.runtime();
    let fewest = |run: &dyn Fn()| {
        run();
        (0..COUNTED_RUNS)
            .map(|_| alloc_counter::count(run).1.count)
            .min()
            .unwrap_or(0)
    };
    let with_gate = fewest(&|| workload.run(&runtime, gate.clone()));
    let without = fewest(&|| workload.run(&runtime, Unthrottled));
    with_gate.saturating_sub(without) as f64 / workload.calls() as f64
}

/// Counted repetitions of each allocation workload.
const COUNTED_RUNS: usize = 3;

pub fn run(options: &Options, table: &mut Table) {
    // Bytes a waiting call adds.
    let pool = Pool::fixed(1);
    let tiny = inline_added(&pool, ready(()));
    table.push(
        Row::absolute(
            "6 Submit<F> − F, 1-byte F (padding included)",
            "size_of",
            tiny as f64,
            Unit::Bytes,
            Target::AtMost(MAX_ADDED_BYTES),
        )
        .in_unit(Unit::Bytes),
    );
    let big = inline_added(&pool, async {
        let buffer = [0u64; 32];
        std::future::ready(()).await;
        buffer.len()
    });
    table.push(Row::absolute(
        "6 Submit<F> − F, 8-aligned F (256 B)",
        "size_of",
        big as f64,
        Unit::Bytes,
        Target::AtMost(MAX_ADDED_BYTES),
    ));
    let worker_queue = worker_queue_waiting_bytes();
    for (name, order) in [
        ("FIFO", Order::Fifo),
        ("LIFO", Order::Lifo),
        ("priority", Order::Priority),
    ] {
        table.push(
            Row::ratio(
                format!("6 bytes per waiting call, inline + heap, {name}"),
                "hand-polled",
                pooled_waiting_bytes(order),
                "worker-queue pool, same measure",
                worker_queue,
                Target::AtMost(MAX_ADDED_BYTES),
            )
            .in_unit(Unit::Bytes),
        );
    }
    table.push(Row::absolute(
        "6 bytes per waiting call as a tokio task (for comparison)",
        "tokio::spawn",
        tokio_task_waiting_bytes(),
        Unit::Bytes,
        Target::Info,
    ));

    // Every peer of issue 14 in the form its user writes (an async block
    // holding the acquire future, then the permit and the body; each with no
    // permits left, so every call waits), against `pool.submit(body)`, which
    // is the pool's user's form. The wrapper itself costs bytes: the pool
    // through the same wrapper is the first row.
    let pooled = pooled_waiting_bytes(Order::Fifo);
    let peers: [(&str, f64); 7] = [
        (
            "pooled through the same Gate wrapper",
            pool_gate_waiting_bytes(),
        ),
        (
            "tokio Semaphore",
            gate_waiting_bytes(&SemaphoreGate::new(0)),
        ),
        (
            "futures-intrusive Semaphore (fair)",
            gate_waiting_bytes(&IntrusiveGate::new(0)),
        ),
        (
            "async-lock Semaphore",
            gate_waiting_bytes(&AsyncLockGate::new(0)),
        ),
        (
            "priority-semaphore",
            gate_waiting_bytes(&PrioritySemaphoreGate::new(0)),
        ),
        (
            "ranked-semaphore (FIFO)",
            gate_waiting_bytes(&RankedSemaphoreGate::new(0)),
        ),
        (
            "tower ConcurrencyLimit",
            gate_waiting_bytes(&TowerLimitGate::new(0)),
        ),
    ];
    for (name, bytes) in peers {
        table.push(
            Row::ratio(
                "6 bytes per waiting call, user's form: pool.submit (FIFO) vs a peer's async block",
                "hand-polled",
                pooled,
                name,
                bytes,
                Target::Info,
            )
            .in_unit(Unit::Bytes),
        );
    }

    // Heap allocations per submit in steady state.
    let uncontended = Workload::Sequential(options.size(50_000, 2_000));
    let per_task = options.size(200, 10);
    for flavor in options.flavors() {
        let label = flavor.label();
        let semaphore = allocations_per_call(flavor, uncontended, SemaphoreGate::new(8));
        let pooled = allocations_per_call(flavor, uncontended, PoolGate(Pool::fixed(8)));
        table.push(
            Row::ratio(
                "6 heap allocs per submit, uncontended",
                label,
                pooled,
                "tokio Semaphore",
                semaphore,
                Target::AtMost(0.0),
            )
            .in_unit(Unit::Allocs),
        );
        let fifo = Workload::Contended {
            per_task,
            weights: 1,
        };
        let semaphore = allocations_per_call(flavor, fifo, SemaphoreGate::new(8));
        for (name, order, weights) in [
            ("FIFO", Order::Fifo, 1),
            ("LIFO", Order::Lifo, 1),
            ("priority", Order::Priority, WEIGHTS),
        ] {
            let workload = Workload::Contended { per_task, weights };
            let pooled = allocations_per_call(flavor, workload, PoolGate(contended_pool(order)));
            table.push(
                Row::ratio(
                    format!("6 heap allocs per submit, contended {name}"),
                    label,
                    pooled,
                    "tokio Semaphore",
                    semaphore,
                    Target::AtMost(0.0),
                )
                .in_unit(Unit::Allocs),
            );
        }
    }
}
