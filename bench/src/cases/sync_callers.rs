//! Case 8 (issue 14): sync callers. 64 OS threads share 8 slots (then 1: more
//! calling threads than cores *and* than slots, the convoy regime), each calling
//! a trivial closure over and over: `pool.run(|| ())` against a
//! `Mutex` + `Condvar` semaphore written here (the floor: what the standard
//! library alone gives) and `async-lock`'s `acquire_blocking`; and the same
//! pool with sync barging on (`sync_barging(BARGING_BOUND)`: the opt-in
//! bounded unfairness that lets a freed slot go to the thread still
//! running). Plus heap allocations per `pool.run` call, over the floor's.

use crate::alloc_counter;
use crate::cases::contended::SLOTS;
use crate::measure::{interleaved, variant};
use crate::options::Options;
use crate::report::{Row, Table, Target, Unit};
use pooled::Pool;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Calling threads.
const THREADS: usize = 64;
/// Calls per thread per run (full, quick).
const CALLS_PER_THREAD: (usize, usize) = (20_000, 20);
/// The same with one slot, where each call costs a thread switch (see
/// BENCHMARKS.md, "Sync callers"): fewer calls for about the same time.
const CONVOY_CALLS_PER_THREAD: (usize, usize) = (1_000, 20);

/// How long a sync caller of the barging pool may be overtaken before it
/// queues (see BENCHMARKS.md, "Sync callers", for other bounds).
pub const BARGING_BOUND: Duration = Duration::from_millis(1);

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
    for (slots, calls) in [(SLOTS, CALLS_PER_THREAD), (1, CONVOY_CALLS_PER_THREAD)] {
        run_with(options, table, slots, calls);
    }
}

/// The case with `slots` slots and `calls` (full, quick) calls per thread.
fn run_with(options: &Options, table: &mut Table, slots: usize, calls: (usize, usize)) {
    let per_thread = options.size(calls.0, calls.1);
    let pool = Pool::fixed(slots);
    let barging = Pool::builder()
        .size(slots)
        .sync_barging(BARGING_BOUND)
        .build()
        .expect("valid settings");
    let floor = CondvarSemaphore::new(slots);
    let async_lock = Arc::new(async_lock::Semaphore::new(slots));
    let pooled_call = || {
        pool.run(|| black_box(()))
            .expect("an open, unbounded pool rejects nothing");
    };
    let barging_call = || {
        barging
            .run(|| black_box(()))
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
            variant(format!("pooled-run-{slots}"), || {
                threads(&pooled_call, per_thread)
            }),
            variant(format!("pooled-barging-{slots}"), || {
                threads(&barging_call, per_thread)
            }),
            variant(format!("mutex-condvar-{slots}"), || {
                threads(&floor_call, per_thread)
            }),
            variant(format!("async-lock-blocking-{slots}"), || {
                threads(&async_lock_call, per_thread)
            }),
        ],
    );
    let [pooled, barging_ns, floor_ns, async_lock_ns] = medians[..] else {
        unreachable!()
    };
    let label = "64 OS threads";
    let what = format!("{THREADS} sync callers: pool.run(trivial), {slots} slot(s)");
    table.push(Row::ratio(
        what.clone(),
        label,
        pooled,
        "Mutex+Condvar semaphore (floor)",
        floor_ns,
        Target::RatioAtMost(1.5),
    ));
    table.push(Row::ratio(
        what,
        label,
        pooled,
        "async-lock acquire_blocking",
        async_lock_ns,
        Target::Info,
    ));
    table.push(Row::ratio(
        format!(
            "{THREADS} sync callers: pool.run(trivial), {slots} slot(s), sync_barging({BARGING_BOUND:?})"
        ),
        label,
        barging_ns,
        "Mutex+Condvar semaphore (floor)",
        floor_ns,
        Target::RatioAtMost(1.5),
    ));
    if options.wants_variant(&format!("pooled-run-{slots}")) {
        // Spawning the threads allocates too: counted once each way, and
        // the floor's count subtracted. Each thread's first wait also makes
        // its waker, once per thread (`THREADS` at most).
        let pooled_allocs = alloc_counter::count(|| threads(&pooled_call, per_thread)).1;
        let floor_allocs = alloc_counter::count(|| threads(&floor_call, per_thread)).1;
        let extra = pooled_allocs.count.saturating_sub(floor_allocs.count);
        let calls = THREADS * per_thread;
        let barging_allocs = alloc_counter::count(|| threads(&barging_call, per_thread)).1;
        let barging_extra = barging_allocs.count.saturating_sub(floor_allocs.count);
        table.push(Row::absolute(
            format!(
                "{THREADS} sync callers, {slots} slot(s), sync barging: heap allocations per \
                 pool.run ({barging_extra} in {calls} calls), less one waker per thread"
            ),
            label,
            barging_extra.saturating_sub(THREADS as u64) as f64 / calls as f64,
            Unit::Allocs,
            Target::AtMost(0.0),
        ));
        table.push(Row::absolute(
            format!(
                "{THREADS} sync callers, {slots} slot(s): heap allocations per pool.run \
                 ({extra} in {calls} calls), less one waker per thread"
            ),
            label,
            extra.saturating_sub(THREADS as u64) as f64 / calls as f64,
            Unit::Allocs,
            Target::AtMost(0.0),
        ));
    }
}
