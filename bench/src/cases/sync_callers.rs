//! Case 8 (issue 14): sync callers. 64 OS threads share 8 slots, each calling
//! a trivial closure over and over: `pool.run(|| ())` against a
//! `Mutex` + `Condvar` semaphore written here (the floor: what the standard
//! library alone gives) and `async-lock`'s `acquire_blocking`. Plus heap
//! allocations per `pool.run` call, over the floor's.

use crate::alloc_counter;
use crate::cases::contended::SLOTS;
use crate::measure::{interleaved, variant};
use crate::options::Options;
use crate::report::{Row, Table, Target, Unit};
use pooled::Pool;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::Instant;

/// Calling threads.
const THREADS: usize = 64;
/// Calls per thread per run (full, quick).
const CALLS_PER_THREAD: (usize, usize) = (20_000, 20);

/// The standard library's semaphore: a count under a mutex, a condition
/// variable to wait for it. Not FIFO: a woken thread re-checks the count and a
/// running thread may take the permit first.
#[derive(Debug)]
pub struct CondvarSemaphore {
    permits: Mutex<usize>,
    freed: Condvar,
}

impl CondvarSemaphore {
    /// A semaphore of `permits`.
    pub fn new(permits: usize) -> CondvarSemaphore {
        CondvarSemaphore {
            permits: Mutex::new(permits),
            freed: Condvar::new(),
        }
    }

    /// Runs `f` holding one permit.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut permits = self.permits.lock().expect("not poisoned");
            while *permits == 0 {
                permits = self.freed.wait(permits).expect("not poisoned");
            }
            *permits -= 1;
        }
        let out = f();
        *self.permits.lock().expect("not poisoned") += 1;
        self.freed.notify_one();
        out
    }
}

/// [`THREADS`] threads, released together, each making `calls_per_thread`
/// calls through `call`; ns per call from the first thread's start to the
/// last one's end. (Each thread reads the clock itself: on 2 cores the
/// releasing thread may be scheduled only after the others have finished.)
fn threads(call: &(dyn Fn() + Sync), calls_per_thread: usize) -> f64 {
    let start_line = Barrier::new(THREADS);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    start_line.wait();
                    let start = Instant::now();
                    for _ in 0..calls_per_thread {
                        call();
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a calling thread panicked"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("threads ran");
    let last = spans.iter().map(|s| s.1).max().expect("threads ran");
    (last - first).as_nanos() as f64 / (THREADS * calls_per_thread) as f64
}

pub fn run(options: &Options, table: &mut Table) {
    let per_thread = options.size(CALLS_PER_THREAD.0, CALLS_PER_THREAD.1);
    let pool = Pool::fixed(SLOTS);
    let floor = CondvarSemaphore::new(SLOTS);
    let async_lock = Arc::new(async_lock::Semaphore::new(SLOTS));
    let pooled_call = || {
        pool.run(|| black_box(()))
            .expect("an open, unbounded pool rejects nothing");
    };
    let floor_call = || floor.run(|| black_box(()));
    let async_lock_call = || {
        let _guard = async_lock.acquire_blocking();
        black_box(());
    };
    let medians = interleaved(
        options,
        vec![
            variant("pooled-run", || threads(&pooled_call, per_thread)),
            variant("mutex-condvar", || threads(&floor_call, per_thread)),
            variant("async-lock-blocking", || {
                threads(&async_lock_call, per_thread)
            }),
        ],
    );
    let [pooled, floor_ns, async_lock_ns] = medians[..] else {
        unreachable!()
    };
    let label = "64 OS threads";
    table.push(Row::ratio(
        "8 sync callers: pool.run(trivial), 8 slots",
        label,
        pooled,
        "Mutex+Condvar semaphore (floor)",
        floor_ns,
        Target::RatioAtMost(1.5),
    ));
    table.push(Row::ratio(
        "8 sync callers: pool.run(trivial), 8 slots",
        label,
        pooled,
        "async-lock acquire_blocking",
        async_lock_ns,
        Target::Info,
    ));
    if options.wants_variant("pooled-run") {
        // Spawning the threads allocates too: counted once each way, and
        // the floor's count subtracted.
        let pooled_allocs = alloc_counter::count(|| threads(&pooled_call, per_thread)).1;
        let floor_allocs = alloc_counter::count(|| threads(&floor_call, per_thread)).1;
        let extra = pooled_allocs.count.saturating_sub(floor_allocs.count);
        let calls = THREADS * per_thread;
        table.push(Row::absolute(
            format!("8 sync callers: heap allocations per pool.run ({extra} in {calls} calls)"),
            label,
            extra as f64 / calls as f64,
            Unit::Allocs,
            Target::AtMost(0.0),
        ));
    }
}
