//! Acceptance tests, round 19: README sentences no earlier test checks — the
//! one lazily started timer thread (and who never starts it), the pieces of
//! rayon work a blocking closure starts, the fleet settings' documented
//! edges, a waiting call's size and its allocations under an admission
//! timeout. Each test quotes its README sentence with its line number.
//! Concurrency is counted from outside the library; waits are bounded only
//! to turn a hang into a failure.
#![cfg(all(feature = "tokio", feature = "config"))]

use pool_runtime::{Pool, Rejected, TokioClock};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::Duration;
#[cfg(feature = "rayon")]
use {
    common::within,
    pool_runtime::RayonExecutor,
    std::sync::{atomic::AtomicBool, Arc},
};

mod common;

/// Every bounded wait is over by then, or the test fails.
const BOUND: Duration = Duration::from_secs(20);

/// The threads of this process named `pooled-timer` (the timer thread's
/// name in `pool-runtime/src/time/timer.rs`), read from `/proc`.
fn timer_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "pooled-timer")
        .count()
}

/// [`timer_threads`] once it reads `expected`, or as it reads after 5 s.
///
/// A new thread starts with its creator's name and takes its own only once
/// it runs, so a waking thread the timer thread has just spawned (its own
/// name, `pooled-timer-wake`, reads `pooled-timer-wa` here) counts as a
/// timer thread for a moment, which is long on a loaded machine: a waker
/// handed over while the first waking thread had not run yet for a stall
/// period gets a second one, as documented (a loaded run read 2 for 1). Timer
/// threads never end, so a timer thread more keeps the count above
/// `expected` until the 5 s are up: the check is as strict as a single
/// read, only not fooled by a thread that has not named itself yet.
fn timer_threads_now(expected: usize) -> usize {
    let start = std::time::Instant::now();
    loop {
        let threads = timer_threads();
        if threads == expected || start.elapsed() > Duration::from_secs(5) {
            return threads;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn timed_pool(timeout: Duration) -> Pool {
    Pool::builder()
        .size(1)
        .admission_timeout(timeout)
        .build()
        .unwrap()
}

/// README lines 501–504: "**Timeouts** run on one lazily started timer
/// thread, which works under any executor or none; a pool built with
/// `.clock(TokioClock::new())` uses tokio's timer instead, so its timeouts
/// and autoscaler follow tokio's paused test time."
///
/// In a child process (the timer thread is process-wide), counting the
/// process's threads named `pooled-timer` from `/proc`: none after building
/// a pool with a timeout, nor while a `TokioClock` pool's calls time out; one
/// once an async call on the system clock times out without any runtime
/// (`block_on`); still one after more pools' async calls time out, inside a
/// tokio runtime and outside.
#[cfg(target_os = "linux")]
#[test]
fn one_timer_thread_starts_at_the_first_async_timeout_and_tokio_clock_pools_never_start_it() {
    crate::common::in_own_process(
        "one_timer_thread_starts_at_the_first_async_timeout_and_tokio_clock_pools_never_start_it",
        &[],
        || {
            let short = Duration::from_millis(40);
            assert_eq!(
                timer_threads_now(0),
                0,
                "a timer thread before anything ran"
            );
            let pool = timed_pool(short);
            assert_eq!(
                timer_threads_now(0),
                0,
                "building a pool with a timeout started the timer"
            );

            // A TokioClock pool's timeouts run on tokio's timer.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let tokio_pool = Pool::builder()
                    .size(1)
                    .admission_timeout(short)
                    .clock(TokioClock::new())
                    .build()
                    .unwrap();
                let _slot = tokio_pool.acquire().await.unwrap();
                for _ in 0..3 {
                    assert_eq!(tokio_pool.submit(async {}).await, Err(Rejected::TimedOut));
                }
            });
            assert_eq!(
                timer_threads_now(0),
                0,
                "a TokioClock pool's timeout started the timer thread"
            );

            // An async call on the system clock, with no runtime at all.
            let slot = pool.try_acquire().unwrap();
            assert_eq!(
                futures::executor::block_on(pool.submit(async {})),
                Err(Rejected::TimedOut)
            );
            drop(slot);
            assert_eq!(
                timer_threads_now(1),
                1,
                "the first async timeout's timer thread"
            );

            // More pools, more runtimes: still the one thread.
            let others: Vec<Pool> = (0..4).map(|_| timed_pool(short)).collect();
            let slots: Vec<_> = others.iter().map(|p| p.try_acquire().unwrap()).collect();
            let multi = common::runtime();
            for other in &others {
                assert_eq!(
                    multi.block_on(other.submit(async {})),
                    Err(Rejected::TimedOut)
                );
                assert_eq!(
                    futures::executor::block_on(other.submit(async {})),
                    Err(Rejected::TimedOut)
                );
            }
            drop(slots);
            assert_eq!(timer_threads_now(1), 1, "a second timer thread");
        },
    );
}

/// README line 503–504: "Sync callers time out on their own thread." (after
/// "**Timeouts** run on one lazily started timer thread", line 501).
///
/// In a child process: a sync caller (`Pool::run`, from a plain thread)
/// waiting on a full pool with an admission timeout times out with
/// `TimedOut`, and no thread named `pooled-timer` is started for it: the
/// sync caller's own thread keeps its deadline (`park_timeout`).
#[cfg(target_os = "linux")]
#[test]
fn sync_callers_time_out_on_their_own_thread_without_starting_the_timer_thread() {
    crate::common::in_own_process(
        "sync_callers_time_out_on_their_own_thread_without_starting_the_timer_thread",
        &[],
        || {
            let pool = timed_pool(Duration::from_millis(40));
            let (release, held) = mpsc::channel::<()>();
            let (entered, is_held) = mpsc::channel::<()>();
            let holder_pool = pool.clone();
            let holder = std::thread::spawn(move || {
                holder_pool.run(|| {
                    entered.send(()).unwrap();
                    let _ = held.recv_timeout(BOUND);
                })
            });
            is_held.recv_timeout(BOUND).unwrap();
            for _ in 0..3 {
                assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
            }
            let threads = timer_threads_now(0);
            release.send(()).unwrap();
            holder.join().unwrap().unwrap();
            assert_eq!(
                threads, 0,
                "timer threads started by sync callers' timeouts"
            );
        },
    );
}

/// README lines 313–317: "**rayon** (`features = ["rayon"]`): ... runs
/// `submit_blocking` closures on rayon's pool (CPU-bound work), holding
/// their slot. The pieces of a `par_iter` or `join` that rayon runs on its
/// other threads are calls of their own there, as a task spawned onto another
/// thread is: a piece that calls the same pool needs a free slot (see
/// `RayonExecutor`)." and line 406: a nested call is one "made on the thread
/// of sync or blocking work", which "a paused or closed pool ... does not
/// turn ... away" (line 411).
///
/// The closure pauses its own pool, then `rayon::join`s two pieces that each
/// call the pool with `run`: the first, on the closure's own thread, waits
/// (bounded) for the second to be answered, so rayon's idle threads steal the
/// second. The piece on the closure's thread is a nested call (paused or not,
/// it runs, under the closure's slot); the stolen one is a call of its own
/// and is turned away by the pause. The same with a `par_iter` of 16 pieces:
/// each piece's answer follows from the thread it ran on.
#[cfg(feature = "rayon")]
#[test]
fn rayon_pieces_on_other_threads_are_calls_of_their_own_and_those_on_the_closures_are_nested() {
    let threads = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap(),
    );
    let pool = Pool::builder()
        .size(2)
        .blocking_executor(Arc::new(RayonExecutor::new(threads)))
        .build()
        .unwrap();
    let inside = Arc::new(AtomicUsize::new(0));

    // join: the second piece is stolen while the first waits for it.
    let p = pool.clone();
    let ins = inside.clone();
    let (own, stolen) = within(BOUND, move || {
        futures::executor::block_on(p.clone().submit_blocking(move || {
            let parent = std::thread::current().id();
            p.pause();
            let answered = Arc::new(AtomicBool::new(false));
            let seen = answered.clone();
            let (a, b) = rayon::join(
                || {
                    let out = p.run(|| ins.fetch_add(1, SeqCst));
                    let start = std::time::Instant::now();
                    while !seen.load(SeqCst) && start.elapsed() < Duration::from_secs(5) {
                        std::thread::yield_now();
                    }
                    (std::thread::current().id() == parent, out.map(|_| ()))
                },
                || {
                    let out = p.run(|| ins.fetch_add(1, SeqCst));
                    answered.store(true, SeqCst);
                    (std::thread::current().id() == parent, out.map(|_| ()))
                },
            );
            p.resume();
            (a, b)
        }))
        .unwrap()
    });
    assert_eq!(own, (true, Ok(())), "the piece on the closure's thread");
    assert!(
        !stolen.0,
        "rayon never stole the second piece (the test could not decide)"
    );
    assert_eq!(
        stolen.1,
        Err(Rejected::Paused),
        "a piece rayon ran on another thread was not a call of its own: the pause did not turn it away"
    );

    // par_iter: each piece's answer by the thread it ran on.
    use rayon::prelude::*;
    let p = pool.clone();
    let answers = within(BOUND, move || {
        futures::executor::block_on(p.clone().submit_blocking(move || {
            let parent = std::thread::current().id();
            p.pause();
            let answers: Vec<(bool, Result<(), Rejected>)> = (0..16)
                .into_par_iter()
                .map(|_| {
                    let out = p.run(|| std::thread::sleep(Duration::from_millis(2)));
                    (std::thread::current().id() == parent, out)
                })
                .collect();
            p.resume();
            answers
        }))
        .unwrap()
    });
    for (i, (on_parent, out)) in answers.iter().enumerate() {
        let expected = if *on_parent {
            Ok(())
        } else {
            Err(Rejected::Paused)
        };
        assert_eq!(
            *out, expected,
            "piece {i} (on the closure's thread: {on_parent})"
        );
    }
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    common::assert_accounted(&s);
}

/// README line 409: "only **one nested call at a time** uses a
/// parent's slot" with lines 313–317 ("a piece that calls the same pool needs
/// a free slot"): a closure on rayon holding one slot of a pool of 2 runs a
/// `par_iter` of 24 pieces that call the pool; counted from outside, never
/// more than 2 pieces run at once, and every piece runs (a free slot exists,
/// so the pieces on other threads are not stranded).
#[cfg(feature = "rayon")]
#[test]
fn rayon_pieces_calling_a_pool_of_two_never_run_more_than_two_at_once() {
    use rayon::prelude::*;
    let threads = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap(),
    );
    let pool = Pool::builder()
        .size(2)
        .blocking_executor(Arc::new(RayonExecutor::new(threads)))
        .build()
        .unwrap();
    let meter = common::Meter::default();
    let p = pool.clone();
    let m = meter.clone();
    let done = within(BOUND, move || {
        futures::executor::block_on(p.clone().submit_blocking(move || {
            (0..24)
                .into_par_iter()
                .map(|_| {
                    p.run(|| {
                        let _in = m.enter();
                        std::thread::sleep(Duration::from_millis(3));
                    })
                    .is_ok()
                })
                .filter(|ok| *ok)
                .count()
        }))
        .unwrap()
    });
    assert_eq!(done, 24);
    assert!(meter.max() <= 2, "{} pieces ran at once", meter.max());
    assert_eq!(meter.done(), 24);
}

/// README lines 571–572: "A waiting call adds 80 bytes to its caller's future
/// (the Semaphore's `Acquire`: 88)." Measured as the README's source
/// (BENCHMARKS.md case 6) measures it: `size_of` of the call's future minus
/// that of the work it wraps, for an 8-aligned work, next to tokio's
/// `Semaphore::acquire` future. On the default features (with `tracing` or
/// `metrics` a call carries their state too: 104 bytes).
#[cfg(not(any(feature = "tracing", feature = "metrics", feature = "redis")))]
#[test]
fn a_waiting_call_adds_the_documented_bytes_to_its_callers_future() {
    let pool = Pool::builder().size(1).build().unwrap();
    let work = async {
        let big = [0u64; 32];
        std::future::ready(()).await;
        big.len()
    };
    let work_size = std::mem::size_of_val(&work);
    let call = pool.submit(work);
    let added = std::mem::size_of_val(&call) - work_size;
    let semaphore = tokio::sync::Semaphore::new(1);
    let acquire = std::mem::size_of_val(&semaphore.acquire());
    assert_eq!((added, acquire), (80, 88), "(Submit<F> - F, Acquire)");
}

/// README lines 368–371: "A bad value (a limit of 0, a URL that is not
/// `redis://` or `unix://`, a lease outside 100 ms..24 h, a build without
/// `redis`) is refused where it is written: ... a `BuildError` from
/// `GroupSettings::check`, a load error at the file's line and column or the
/// variable."
///
/// The edges: `unix://` is accepted, `rediss://` and `http://` are not; a
/// lease of exactly 100 ms and exactly 24 h is accepted, 1 ns less or more is
/// not — by `GroupSettings::check`, and in a file table at its line.
#[cfg(feature = "redis")]
#[test]
fn fleet_settings_are_checked_at_the_documented_edges_by_check_and_by_a_load() {
    use pool_runtime::{config, register_group, Group, GroupSettings, GroupSpec};
    let ok = |s: GroupSettings| s.check().map(|_| ()).map_err(|e| e.to_string());
    let base = GroupSettings::DEFAULT.size(2).fleet_limit(3);
    let day = Duration::from_secs(24 * 60 * 60);
    let min = Duration::from_millis(100);
    for url in ["redis://127.0.0.1:6379", "unix:///tmp/redis.sock"] {
        assert_eq!(ok(base.fleet_url(url)), Ok(()), "{url}");
    }
    for url in ["rediss://127.0.0.1:6379", "http://127.0.0.1:6379", ""] {
        assert!(ok(base.fleet_url(url)).is_err(), "{url:?} accepted");
    }
    let with = |lease| base.fleet_url("redis://127.0.0.1:1").fleet_lease(lease);
    assert_eq!(ok(with(min)), Ok(()), "a lease of exactly 100 ms");
    assert_eq!(ok(with(day)), Ok(()), "a lease of exactly 24 h");
    for lease in [min - Duration::from_nanos(1), day + Duration::from_nanos(1)] {
        assert!(ok(with(lease)).is_err(), "a lease of {lease:?} accepted");
    }

    static EDGES: Group = Group::new(GroupSpec::new("r19::fleet_edges").size(2));
    register_group!(EDGES);
    let _serial = common::config_turn();
    let table = |lease: &str, url: &str| {
        format!(
            "[groups.\"r19::fleet_edges\"]\nfleet_limit = 3\nfleet_url = \"{url}\"\nfleet_lease = \"{lease}\"\n"
        )
    };
    for (lease, url) in [
        ("100ms", "redis://127.0.0.1:1"),
        ("24h", "redis://127.0.0.1:1"),
        ("1s", "unix:///tmp/redis.sock"),
    ] {
        let out = config::load_str("edges.toml", &table(lease, url));
        assert!(out.is_ok(), "{lease} {url}: {:?}", out.err());
        config::clear();
    }
    for (lease, url, key) in [
        ("99ms", "redis://127.0.0.1:1", "fleet_lease"),
        ("25h", "redis://127.0.0.1:1", "fleet_lease"),
        ("1s", "rediss://127.0.0.1:1", "fleet_url"),
    ] {
        let err = config::load_str("edges.toml", &table(lease, url))
            .expect_err("a bad fleet value loaded")
            .to_string();
        let line = if key == "fleet_url" { 3 } else { 4 };
        assert!(
            err.starts_with(&format!("edges.toml:{line}:")) && err.contains(key),
            "{lease} {url}: {err}"
        );
        config::clear();
    }
}

/// README line 77: "`Pool::builder().order(..).size(n)` (default: fixed
/// FIFO of 3)".
///
/// `Pool::builder().build()`: three calls held by gates run; five more,
/// weighted so that a priority or LIFO order would reverse them, queue; as
/// the holders end, the five are admitted in arrival order, and never more
/// than 3 bodies run at once (counted from outside).
#[test]
fn the_default_builder_makes_a_fixed_fifo_pool_of_three() {
    let pool = Pool::builder().build().unwrap();
    assert_eq!(pool.size(), 3);
    let meter = common::Meter::default();
    let order = std::sync::Mutex::new(Vec::new());
    // Gates 0..3 hold the first three calls; gates 3..8 the five waiters
    // once admitted, so that each freed slot admits exactly one call.
    let (gates, opens): (Vec<_>, Vec<_>) = (0..8).map(|_| common::gate()).unzip();
    let mut gates = gates.into_iter();
    let mut holders: Vec<_> = gates
        .by_ref()
        .take(3)
        .map(|gate| {
            let meter = meter.clone();
            common::Task::new(pool.submit(async move {
                let _in = meter.enter();
                gate.await
            }))
        })
        .collect();
    for holder in &mut holders {
        holder.assert_pending();
    }
    let mut waiters: Vec<_> = gates
        .zip(0..5i64)
        .map(|(gate, i)| {
            let (meter, order) = (meter.clone(), &order);
            common::Task::new(pool.submit_weighted(5 - i, async move {
                let _in = meter.enter();
                order.lock().unwrap().push(i);
                gate.await
            }))
        })
        .collect();
    for waiter in &mut waiters {
        waiter.assert_pending();
    }
    assert_eq!((pool.stats().running, pool.stats().waiting), (3, 5));
    // Frees one slot (opens gate `g`), then polls every call twice, the
    // last to arrive first, so that the poll order decides nothing.
    let mut free = |g: usize, expected: &[i64]| {
        opens[g].store(true, SeqCst);
        for _ in 0..2 {
            for task in holders.iter_mut().rev() {
                let _ = task.poll();
            }
            for task in waiters.iter_mut().rev() {
                let _ = task.poll();
            }
        }
        assert_eq!(*order.lock().unwrap(), expected, "after gate {g} opened");
    };
    free(0, &[0]);
    free(1, &[0, 1]);
    free(2, &[0, 1, 2]);
    free(3, &[0, 1, 2, 3]);
    free(4, &[0, 1, 2, 3, 4]);
    for g in 5..8 {
        free(g, &[0, 1, 2, 3, 4]);
    }
    assert_eq!((meter.max(), meter.done()), (3, 8));
    common::assert_accounted(&pool.stats());
}

// ---- allocations of a queued call with an admission timeout ----------------

/// Counts the allocations of the threads that opted in (see
/// `pool-runtime/tests/allocations.rs`, whose method this follows).
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

// Safety: forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, SeqCst);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, SeqCst);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations this thread makes while running `f`.
fn allocations_of(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(SeqCst);
    COUNTED.with(|c| c.set(true));
    f();
    COUNTED.with(|c| c.set(false));
    ALLOCATIONS.load(SeqCst) - before
}

/// 100 calls of each form that queue on a full pool whose admission
/// timeout is `timeout` (after one of each as a warm-up): a `submit` and an
/// `acquire` polled once (pending) and dropped, and a sync `run` that parks
/// on this thread until its timeout (1 ms) or, without one, is never made.
/// Returns the allocations of this thread for each form.
fn allocations_of_queued_calls(timeout: Option<Duration>) -> [usize; 3] {
    let mut builder = Pool::builder().size(1);
    if let Some(timeout) = timeout {
        builder = builder.admission_timeout(timeout);
    }
    let pool = builder.build().unwrap();
    // The slot is held by another thread, so that this thread's calls are
    // top-level calls that queue.
    let (release, held) = mpsc::channel::<()>();
    let (entered, is_held) = mpsc::channel::<()>();
    let holder_pool = pool.clone();
    let holder = std::thread::spawn(move || {
        holder_pool.run(|| {
            entered.send(()).unwrap();
            let _ = held.recv_timeout(BOUND);
        })
    });
    is_held.recv_timeout(BOUND).unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut submit = || {
        let mut call = std::pin::pin!(pool.submit(async {}));
        assert!(call.as_mut().poll(&mut cx).is_pending(), "the call queued");
    };
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut acquire = || {
        let mut call = std::pin::pin!(pool.acquire());
        assert!(
            call.as_mut().poll(&mut cx).is_pending(),
            "the permit queued"
        );
    };
    let run = || {
        if timeout.is_some() {
            assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
        }
    };
    submit();
    acquire();
    run();
    let counts = [
        allocations_of(|| (0..100).for_each(|_| submit())),
        allocations_of(|| (0..100).for_each(|_| acquire())),
        allocations_of(|| (0..100).for_each(|_| run())),
    ];
    release.send(()).unwrap();
    holder.join().unwrap().unwrap();
    counts
}

/// README ("allocations"): "A `submit`, a permit or a sync call allocates
/// nothing, uncontended, queued or parked"; what does allocate includes "an
/// async call that waits on a pool with an admission timeout (its deadline:
/// the sleep and its timer entry, two allocations)"; a sync call's deadline
/// is its own park. And line 390: "**Zero allocations per call.** A waiting
/// call's queue node lives inside its own future".
///
/// Queued `submit`s and `acquire`s and parked `run`s on a pool without an
/// admission timeout allocate nothing (the counter's control, with
/// `Box::new` counted as one); with one, the async calls allocate their
/// deadline (two each, and the timer thread's start once) and the sync
/// calls still nothing. (Written by the round as "nothing with a timeout
/// either": the sync calls armed a timer-thread deadline too; they no
/// longer do, and the async calls' two allocations are documented.)
#[test]
fn a_queued_call_allocates_nothing_but_an_async_calls_deadline() {
    assert_eq!(
        allocations_of(|| drop(std::hint::black_box(Box::new(1u64)))),
        1
    );
    assert_eq!(
        allocations_of_queued_calls(None),
        [0, 0, 0],
        "without a timeout"
    );
    let [submits, acquires, runs] = allocations_of_queued_calls(Some(Duration::from_millis(1)));
    assert!(
        (200..=208).contains(&submits) && (200..=208).contains(&acquires),
        "100 queued submits and acquires with an admission timeout: two allocations each \
         (and the timer's start): {submits}, {acquires}"
    );
    assert_eq!(runs, 0, "100 parked runs with an admission timeout");
}
