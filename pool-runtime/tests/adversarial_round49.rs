//! Hostile round 49: blocking work (`submit_blocking`) on tokio's blocking
//! pool, on a thread of its own, and on `RayonExecutor` (global and custom
//! rayon pools, pools of one thread).
//!
//! Coverage: concurrency counted from outside (a meter around each closure
//! body) against the pool's limit and the rayon pool's size, both ways of
//! saturation; `submit_blocking` futures dropped before admission, after
//! admission while the job waits for a rayon thread, and while the closure
//! runs; panics in closures, with a payload that panics on drop (caller alive
//! and caller gone, on rayon, tokio and a plain thread); closures calling the
//! same pool (sync `run`, `submit_blocking` + `block_on` on another rayon
//! thread, one nested call at a time), another pool, rayon `join`/`scope`/
//! `par_iter` calling another pool; sync callers from rayon's own threads; a
//! rayon pool whose only thread waits in `Pool::run` for a slot held by a job
//! queued behind it (the documented limit, bounded here by an admission
//! timeout); close/abort/shutdown while closures run and wait; `stats()`
//! checked against own counters (the accounting identity) after every case;
//! scale-down while closures run; a closure aborting or shutting down its own
//! pool; a pool and its rayon pool dropped while an admitted job waits; a
//! nested job outliving its panicking parent; the latest waker woken at both
//! awaits; priority order of blocking calls; an executor whose `execute`
//! panics and one that runs the job inline; `abort` ending the documented
//! starvation without a timeout; `Full`/`TimedOut` on rayon as values; a
//! closure scaling its own pool to 0 (nests, the queue holds). Every wait is bounded by a
//! watchdog thread (`within`).
//!
//! Broken promises found: none (see the report of round 49). Documented
//! limits exercised without asserting a hang: a rayon thread parked on a
//! slot held by a job queued behind it on the same rayon pool
//! (`RayonExecutor` docs: "deadlocks that pool, as with any bounded
//! executor"), a `join` piece stolen by another rayon thread that calls the
//! same full pool (`RayonExecutor` docs: "they wait on each other for good").
#![allow(clippy::type_complexity)]

mod common;

use common::wait_for;
use pool_runtime::{Pool, Rejected, Stats};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Closures running now and the most there ever were (decremented on unwind too).
#[derive(Default)]
struct Meter {
    now: AtomicUsize,
    peak: AtomicUsize,
    ran: AtomicUsize,
}

struct Leave<'a>(&'a Meter);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, SeqCst);
    }
}

impl Meter {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        self.ran.fetch_add(1, SeqCst);
        let _leave = Leave(self);
        f()
    }
    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }
    fn ran(&self) -> usize {
        self.ran.load(SeqCst)
    }
}

/// Runs `f` on a thread of its own; fails the test if it takes longer than `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let out = panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => match handle.join().unwrap() {
            Ok(v) => v,
            Err(p) => panic::resume_unwind(p),
        },
        Err(_) => panic!("hang: not done within {secs}s"),
    }
}

/// Waits until nothing runs, nests or waits, then checks the accounting identity.
fn settled(pool: &Pool) -> Stats {
    wait_for("the pool to settle", || {
        let s = pool.stats();
        s.running == 0 && s.nested == 0 && s.waiting == 0
    });
    let s = pool.stats();
    assert_eq!(
        s.submitted(),
        s.completed + s.rejected_total() + s.cancelled,
        "accounting identity: {s:?}"
    );
    s
}

/// A payload whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the payload's drop panics");
        }
    }
}

/// Swallows a caught panic payload without dropping a `Bomb`.
fn defuse(payload: Box<dyn std::any::Any + Send>) {
    match payload.downcast::<Bomb>() {
        Ok(bomb) => std::mem::forget(bomb),
        Err(other) => drop(other),
    }
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let hook = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let text = format!("{info}");
            if !text.contains("round49") && !text.contains("payload's drop") {
                hook(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// Without an executor set and outside a runtime: a thread of its own.

#[test]
fn thread_executor_many_callers_keep_the_limit_and_accounting() {
    within(20, || {
        let pool = Pool::fixed(3);
        let meter = Arc::new(Meter::default());
        let futs: Vec<_> = (0..30)
            .map(|i| {
                let meter = meter.clone();
                pool.submit_blocking(move || {
                    meter.run(|| std::thread::sleep(Duration::from_millis(2)));
                    i
                })
            })
            .collect();
        let out = futures::executor::block_on(futures::future::join_all(futs));
        assert_eq!(out, (0..30).map(Ok).collect::<Vec<_>>());
        assert!(meter.peak() <= 3, "peak {}", meter.peak());
        let s = settled(&pool);
        assert_eq!(s.completed, 30);
    });
}

#[test]
fn thread_executor_bomb_payload_with_caller_gone_loses_no_slot() {
    quiet_panics();
    within(20, || {
        let pool = Pool::fixed(1);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let started = Arc::new(AtomicBool::new(false));
        let mut fut = Box::pin({
            let started = started.clone();
            pool.submit_blocking(move || {
                started.store(true, SeqCst);
                let _ = go_rx.recv();
                panic::panic_any(Bomb);
            })
        });
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        wait_for("the closure to start", || started.load(SeqCst));
        drop(fut);
        go_tx.send(()).unwrap();
        // The slot comes back and the pool works on.
        assert_eq!(
            futures::executor::block_on(pool.submit_blocking(|| 7)),
            Ok(7)
        );
        let s = settled(&pool);
        assert_eq!(s.panicked, 1, "{s:?}");
    });
}

use std::future::Future;

/// Panics in `execute`, dropping the job unrun.
struct PanickingExecutor;

impl pool_runtime::BlockingExecutor for PanickingExecutor {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        drop(job);
        panic!("round49 executor refuses");
    }
}

/// Runs the job inline, inside `execute` (on the caller's thread, in its poll).
struct InlineExecutor;

impl pool_runtime::BlockingExecutor for InlineExecutor {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        job();
    }
}

#[test]
fn a_panicking_executor_frees_the_slot_and_loses_nothing() {
    quiet_panics();
    within(20, || {
        let pool = Pool::builder()
            .size(1)
            .blocking_executor(Arc::new(PanickingExecutor))
            .build()
            .unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        for _ in 0..3 {
            let ran = ran.clone();
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(pool.submit_blocking(move || ran.store(true, SeqCst)))
            }));
            // Either the executor's panic or `Closed` (the job dropped unrun).
            if let Ok(v) = r {
                assert_eq!(v, Err(Rejected::Closed));
            }
        }
        assert!(!ran.load(SeqCst));
        assert_eq!(pool.run(|| 1), Ok(1), "the slot came back every time");
        let s = settled(&pool);
        assert_eq!(s.completed, 1, "{s:?}");
    });
}

/// Polls `f` with a no-op waker until it is ready (at most 5 s).
fn spin_on<F: Future>(f: F) -> F::Output {
    let mut f = Box::pin(f);
    let waker = futures::task::noop_waker();
    let start = Instant::now();
    loop {
        if let std::task::Poll::Ready(v) =
            f.as_mut().poll(&mut std::task::Context::from_waker(&waker))
        {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "spin_on: hang");
        std::thread::yield_now();
    }
}

#[test]
fn an_inline_executor_runs_nested_calls_of_the_same_pool_under_the_slot() {
    within(20, || {
        let pool = Pool::builder()
            .size(1)
            .blocking_executor(Arc::new(InlineExecutor))
            .build()
            .unwrap();
        let meter = Arc::new(Meter::default());
        let (p, m) = (pool.clone(), meter.clone());
        let out = futures::executor::block_on(pool.submit_blocking(move || {
            let m2 = m.clone();
            let a = p.run(|| m.run(|| 1)).unwrap();
            // (Not `block_on`: the inline job runs inside the outer `block_on`.)
            let b = spin_on(p.submit_blocking(move || m2.run(|| 2))).unwrap();
            a + b
        }));
        assert_eq!(out, Ok(3));
        assert_eq!(meter.peak(), 1);
        let s = settled(&pool);
        assert_eq!(s.completed, 3, "{s:?}");
    });
}

// ---------------------------------------------------------------------------
// tokio's blocking pool.

#[cfg(feature = "tokio")]
mod on_tokio {
    use super::*;

    fn rt(workers: usize) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .max_blocking_threads(8)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn futures_dropped_at_every_stage_never_let_more_than_the_limit_run() {
        within(30, || {
            let rt = rt(2);
            let pool = Pool::fixed(2);
            let meter = Arc::new(Meter::default());
            rt.block_on(async {
                let mut handles = Vec::new();
                for i in 0..24u64 {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    handles.push(tokio::spawn(async move {
                        // Dropped at 0..3 ms: before admission, queued, or mid-run.
                        let budget = Duration::from_micros(250 * (i % 12));
                        let call = pool.submit_blocking(move || {
                            meter.run(|| std::thread::sleep(Duration::from_millis(3)))
                        });
                        let _ = tokio::time::timeout(budget, call).await;
                    }));
                }
                for h in handles {
                    h.await.unwrap();
                }
            });
            assert!(meter.peak() <= 2, "peak {}", meter.peak());
            let s = settled(&pool);
            assert_eq!(s.submitted(), 24, "{s:?}");
            // Every closure that started ran to its end under a slot.
            assert_eq!(meter.now.load(SeqCst), 0);
        });
    }

    #[test]
    fn bomb_payload_caller_alive_gets_it_and_caller_gone_leaks_nothing() {
        quiet_panics();
        within(30, || {
            let rt = rt(2);
            let pool = Pool::fixed(1);
            rt.block_on(async {
                // Caller alive: the payload itself reaches it.
                let p = pool.clone();
                let caught = tokio::spawn(async move {
                    let r =
                        AssertUnwindSafe(p.submit_blocking(|| -> u8 { panic::panic_any(Bomb) }));
                    futures::FutureExt::catch_unwind(r).await
                })
                .await
                .unwrap();
                match caught {
                    Err(payload) => {
                        assert!(payload.is::<Bomb>(), "the payload reaches the caller");
                        defuse(payload);
                    }
                    Ok(r) => panic!("expected a panic, got {r:?}"),
                }
                // Caller gone: the payload is dropped somewhere else; nothing hangs.
                let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
                let call = pool.submit_blocking(move || -> u8 {
                    let _ = go_rx.recv();
                    panic::panic_any(Bomb)
                });
                let _ = tokio::time::timeout(Duration::from_millis(20), call).await;
                go_tx.send(()).unwrap();
                let r =
                    tokio::time::timeout(Duration::from_secs(5), pool.submit_blocking(|| 3)).await;
                assert_eq!(r, Ok(Ok(3)));
            });
            let s = settled(&pool);
            assert_eq!(s.panicked, 2, "{s:?}");
        });
    }

    #[test]
    fn closures_calling_the_same_pool_sync_and_blocking_from_many_callers() {
        within(30, || {
            let rt = rt(2);
            let pool = Pool::fixed(1);
            let outer = Arc::new(Meter::default());
            let inner = Arc::new(Meter::default());
            rt.block_on(async {
                let mut hs = Vec::new();
                for i in 0..6u32 {
                    let (pool, outer, inner) = (pool.clone(), outer.clone(), inner.clone());
                    hs.push(tokio::spawn(async move {
                        let p = pool.clone();
                        pool.submit_blocking(move || {
                            outer.run(|| {
                                let a = p.run(|| inner.run(|| i)).unwrap();
                                // A nested blocking call, waited for on this thread.
                                let inner2 = inner.clone();
                                let b = futures::executor::block_on(
                                    p.submit_blocking(move || inner2.run(|| i + 1)),
                                )
                                .unwrap();
                                a + b
                            })
                        })
                        .await
                    }));
                }
                for (i, h) in hs.into_iter().enumerate() {
                    assert_eq!(h.await.unwrap(), Ok(2 * i as u32 + 1));
                }
            });
            assert_eq!(outer.peak(), 1);
            assert_eq!(inner.peak(), 1);
            let s = settled(&pool);
            assert_eq!(s.completed, 18, "{s:?}");
        });
    }

    #[test]
    fn abort_while_closures_run_and_wait_on_tokio() {
        within(20, || {
            let rt = rt(2);
            let pool = Pool::fixed(1);
            let meter = Arc::new(Meter::default());
            rt.block_on(async {
                let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
                let m = meter.clone();
                let running = tokio::spawn({
                    let pool = pool.clone();
                    async move {
                        pool.submit_blocking(move || m.run(|| go_rx.recv().is_ok()))
                            .await
                    }
                });
                while pool.stats().running == 0 {
                    tokio::task::yield_now().await;
                }
                let waiters: Vec<_> = (0..4)
                    .map(|_| {
                        let pool = pool.clone();
                        let m = meter.clone();
                        tokio::spawn(
                            async move { pool.submit_blocking(move || m.run(|| true)).await },
                        )
                    })
                    .collect();
                while pool.stats().waiting < 4 {
                    tokio::task::yield_now().await;
                }
                pool.abort();
                for w in waiters {
                    assert_eq!(w.await.unwrap(), Err(Rejected::Closed));
                }
                go_tx.send(()).unwrap();
                assert_eq!(running.await.unwrap(), Ok(true));
                assert_eq!(pool.submit_blocking(|| 1).await, Err(Rejected::Closed));
            });
            assert_eq!(meter.ran(), 1);
            let s = settled(&pool);
            assert_eq!(s.rejected_for(Rejected::Closed), 5, "{s:?}");
        });
    }
}

// ---------------------------------------------------------------------------
// rayon.

#[cfg(feature = "rayon")]
mod on_rayon {
    use super::*;
    use pool_runtime::RayonExecutor;
    use rayon::prelude::*;

    fn threads(n: usize) -> Arc<rayon::ThreadPool> {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(move |i| format!("r49-{n}-{i}"))
                .build()
                .unwrap(),
        )
    }

    fn pool_on(size: usize, threads: &Arc<rayon::ThreadPool>) -> Pool {
        Pool::builder()
            .size(size)
            .blocking_executor(Arc::new(RayonExecutor::new(threads.clone())))
            .build()
            .unwrap()
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    fn noop_cx_poll<F: Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
        let waker = futures::task::noop_waker();
        f.poll(&mut std::task::Context::from_waker(&waker))
    }

    /// Occupies every thread of `threads` until the returned sender is dropped.
    fn occupy(threads: &rayon::ThreadPool, n: usize) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let busy = Arc::new(AtomicUsize::new(0));
        for _ in 0..n {
            let (rx, busy) = (rx.clone(), busy.clone());
            threads.spawn(move || {
                busy.fetch_add(1, SeqCst);
                // Everyone waits for the sender to go.
                loop {
                    let r = rx.lock().unwrap().recv_timeout(Duration::from_millis(1));
                    if let Err(mpsc::RecvTimeoutError::Disconnected) = r {
                        break;
                    }
                }
            });
        }
        wait_for("rayon threads to be occupied", || busy.load(SeqCst) == n);
        tx
    }

    #[test]
    fn one_thread_rayon_pool_limit_three_many_callers() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(3, &t);
            let meter = Arc::new(Meter::default());
            let futs: Vec<_> = (0..12)
                .map(|i| {
                    let m = meter.clone();
                    pool.submit_blocking(move || m.run(|| i * 2))
                })
                .collect();
            let out = block_on(futures::future::join_all(futs));
            assert_eq!(out, (0..12).map(|i| Ok(i * 2)).collect::<Vec<_>>());
            assert_eq!(meter.peak(), 1, "one rayon thread runs one closure");
            assert_eq!(settled(&pool).completed, 12);
        });
    }

    #[test]
    fn more_calls_than_rayon_threads_limit_larger_running_never_exceeds_size() {
        within(30, || {
            let t = threads(2);
            let pool = pool_on(6, &t);
            let meter = Arc::new(Meter::default());
            let stop = Arc::new(AtomicBool::new(false));
            let max_running = Arc::new(AtomicUsize::new(0));
            let watcher = {
                let (pool, stop, max_running) = (pool.clone(), stop.clone(), max_running.clone());
                std::thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        let s = pool.stats();
                        max_running.fetch_max(s.running, SeqCst);
                        std::thread::yield_now();
                    }
                })
            };
            let callers: Vec<_> = (0..4)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    std::thread::spawn(move || {
                        let futs: Vec<_> = (0..6)
                            .map(|_| {
                                let m = meter.clone();
                                pool.submit_blocking(move || {
                                    m.run(|| std::thread::sleep(Duration::from_millis(1)))
                                })
                            })
                            .collect();
                        block_on(futures::future::join_all(futs))
                    })
                })
                .collect();
            for c in callers {
                assert!(c.join().unwrap().iter().all(Result::is_ok));
            }
            stop.store(true, SeqCst);
            watcher.join().unwrap();
            assert!(
                meter.peak() <= 2,
                "rayon has 2 threads, peak {}",
                meter.peak()
            );
            assert!(max_running.load(SeqCst) <= 6);
            assert_eq!(settled(&pool).completed, 24);
        });
    }

    #[test]
    fn more_rayon_threads_than_the_limit_limit_holds_and_is_reached() {
        within(30, || {
            let t = threads(6);
            let pool = pool_on(2, &t);
            let meter = Arc::new(Meter::default());
            let futs: Vec<_> = (0..20)
                .map(|_| {
                    let m = meter.clone();
                    pool.submit_blocking(move || {
                        m.run(|| std::thread::sleep(Duration::from_millis(3)))
                    })
                })
                .collect();
            assert!(block_on(futures::future::join_all(futs))
                .iter()
                .all(Result::is_ok));
            assert_eq!(meter.peak(), 2);
            assert_eq!(settled(&pool).completed, 20);
        });
    }

    #[test]
    fn global_rayon_pool_with_sync_and_blocking_callers_mixed() {
        within(30, || {
            let pool = Pool::builder()
                .size(2)
                .blocking_executor(Arc::new(RayonExecutor::global()))
                .build()
                .unwrap();
            let meter = Arc::new(Meter::default());
            let hs: Vec<_> = (0..4)
                .map(|k| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    std::thread::spawn(move || {
                        for _ in 0..5 {
                            if k % 2 == 0 {
                                let m = meter.clone();
                                block_on(pool.submit_blocking(move || m.run(|| ()))).unwrap();
                            } else {
                                pool.run(|| meter.run(|| ())).unwrap();
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert!(meter.peak() <= 2);
            assert_eq!(settled(&pool).completed, 20);
        });
    }

    #[test]
    fn dropped_before_admission_never_runs_and_is_cancelled() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let held = pool.try_acquire_owned(0).unwrap();
            let ran = Arc::new(AtomicBool::new(false));
            let mut fut = Box::pin({
                let ran = ran.clone();
                pool.submit_blocking(move || ran.store(true, SeqCst))
            });
            assert!(noop_cx_poll(fut.as_mut()).is_pending());
            assert_eq!(pool.stats().waiting, 1);
            drop(fut);
            assert_eq!(pool.stats().waiting, 0, "left the queue at once");
            drop(held);
            assert_eq!(block_on(pool.submit_blocking(|| 1)), Ok(1));
            assert!(!ran.load(SeqCst));
            let s = settled(&pool);
            assert_eq!(s.cancelled, 1, "{s:?}");
        });
    }

    #[test]
    fn dropped_after_admission_while_queued_on_rayon_holds_the_slot_until_it_runs() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let gate = occupy(&t, 1);
            let meter = Arc::new(Meter::default());
            let mut fut = Box::pin({
                let m = meter.clone();
                pool.submit_blocking(move || m.run(|| ()))
            });
            assert!(noop_cx_poll(fut.as_mut()).is_pending());
            assert_eq!(pool.stats().running, 1, "admitted, queued on rayon");
            drop(fut);
            assert_eq!(pool.stats().running, 1, "the slot travels with the job");
            // A second call waits for it.
            let second = {
                let pool = pool.clone();
                let m = meter.clone();
                std::thread::spawn(move || block_on(pool.submit_blocking(move || m.run(|| 5))))
            };
            wait_for("the second call to queue", || pool.stats().waiting == 1);
            drop(gate);
            assert_eq!(second.join().unwrap(), Ok(5));
            assert_eq!(meter.ran(), 2, "the dropped call's closure still ran");
            assert_eq!(meter.peak(), 1);
            settled(&pool);
        });
    }

    #[test]
    fn dropped_while_running_keeps_the_limit() {
        within(20, || {
            let t = threads(3);
            let pool = pool_on(1, &t);
            let meter = Arc::new(Meter::default());
            for _ in 0..5 {
                let (go_tx, go_rx) = mpsc::channel::<()>();
                let started = Arc::new(AtomicBool::new(false));
                let mut fut = Box::pin({
                    let (m, started) = (meter.clone(), started.clone());
                    pool.submit_blocking(move || {
                        m.run(|| {
                            started.store(true, SeqCst);
                            let _ = go_rx.recv();
                        })
                    })
                });
                assert!(noop_cx_poll(fut.as_mut()).is_pending());
                wait_for("start", || started.load(SeqCst));
                drop(fut);
                let next = {
                    let (pool, m) = (pool.clone(), meter.clone());
                    std::thread::spawn(move || block_on(pool.submit_blocking(move || m.run(|| 1))))
                };
                wait_for("next to queue", || pool.stats().waiting == 1);
                std::thread::sleep(Duration::from_millis(2));
                assert_eq!(meter.peak(), 1);
                drop(go_tx);
                assert_eq!(next.join().unwrap(), Ok(1));
            }
            assert_eq!(meter.peak(), 1);
            settled(&pool);
        });
    }

    #[test]
    fn bomb_payload_on_rayon_caller_alive_and_gone() {
        quiet_panics();
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                block_on(pool.submit_blocking(|| -> u8 { panic::panic_any(Bomb) }))
            }));
            match r {
                Err(payload) => {
                    assert!(payload.is::<Bomb>());
                    defuse(payload);
                }
                Ok(v) => panic!("expected a panic, got {v:?}"),
            }
            // Caller gone before the job ran: the payload is dropped on the rayon thread.
            let gate = occupy(&t, 1);
            let mut fut = Box::pin(pool.submit_blocking(|| -> u8 { panic::panic_any(Bomb) }));
            assert!(noop_cx_poll(fut.as_mut()).is_pending());
            drop(fut);
            drop(gate);
            // The rayon pool survived (no abort) and the slot came back.
            assert_eq!(block_on(pool.submit_blocking(|| 9)), Ok(9));
            assert_eq!(t.install(|| 4), 4);
            let s = settled(&pool);
            assert_eq!(s.panicked, 2, "{s:?}");
        });
    }

    #[test]
    fn plain_panics_from_many_jobs_free_every_slot() {
        quiet_panics();
        within(20, || {
            let t = threads(2);
            let pool = pool_on(2, &t);
            let meter = Arc::new(Meter::default());
            let hs: Vec<_> = (0..4)
                .map(|k| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    std::thread::spawn(move || {
                        let mut panics = 0;
                        for i in 0..5 {
                            let m = meter.clone();
                            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                                block_on(pool.submit_blocking(move || {
                                    m.run(|| {
                                        if (i + k) % 2 == 0 {
                                            panic!("round49 boom");
                                        }
                                    })
                                }))
                            }));
                            if r.is_err() {
                                panics += 1;
                            }
                        }
                        panics
                    })
                })
                .collect();
            let panics: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(panics, 10);
            assert!(meter.peak() <= 2);
            let s = settled(&pool);
            assert_eq!((s.completed, s.panicked), (20, 10), "{s:?}");
        });
    }

    #[test]
    fn closure_calls_same_pool_blocking_on_another_rayon_thread_one_nested_at_a_time() {
        within(20, || {
            let t = threads(3);
            let pool = pool_on(1, &t);
            let inner = Arc::new(Meter::default());
            let p = pool.clone();
            let i2 = inner.clone();
            let out = block_on(pool.submit_blocking(move || {
                let futs: Vec<_> = (0..4)
                    .map(|k| {
                        let m = i2.clone();
                        p.submit_blocking(move || {
                            m.run(|| std::thread::sleep(Duration::from_millis(2)));
                            k
                        })
                    })
                    .collect();
                block_on(futures::future::join_all(futs))
            }));
            assert_eq!(out, Ok(vec![Ok(0), Ok(1), Ok(2), Ok(3)]));
            assert_eq!(
                inner.peak(),
                1,
                "only one nested call at a time on the parent's slot"
            );
            let s = settled(&pool);
            assert_eq!(s.completed, 5, "{s:?}");
        });
    }

    #[test]
    fn closure_calls_same_pool_sync_nested_deeply() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let p = pool.clone();
            let out = block_on(pool.submit_blocking(move || {
                p.run(|| p.run(|| p.run(|| 3).unwrap() + 1).unwrap() + 1)
                    .unwrap()
            }));
            assert_eq!(out, Ok(5));
            assert_eq!(settled(&pool).completed, 4);
        });
    }

    #[test]
    fn closures_call_another_pool_from_every_rayon_thread() {
        within(20, || {
            let t = threads(4);
            let p = pool_on(4, &t);
            let q = Pool::fixed(1);
            let qm = Arc::new(Meter::default());
            let futs: Vec<_> = (0..16)
                .map(|i| {
                    let (q, qm) = (q.clone(), qm.clone());
                    p.submit_blocking(move || {
                        q.run(|| qm.run(|| std::thread::sleep(Duration::from_micros(300))))
                            .map(|()| i)
                    })
                })
                .collect();
            let out = block_on(futures::future::join_all(futs));
            assert_eq!(out, (0..16).map(|i| Ok(Ok(i))).collect::<Vec<_>>());
            assert_eq!(qm.peak(), 1);
            settled(&p);
            assert_eq!(settled(&q).completed, 16);
        });
    }

    #[test]
    fn closures_submit_blocking_to_another_rayon_pool_with_one_thread() {
        within(20, || {
            let t = threads(2);
            let t1 = threads(1);
            let p = pool_on(2, &t);
            let q = pool_on(3, &t1);
            let qm = Arc::new(Meter::default());
            let futs: Vec<_> = (0..8)
                .map(|i| {
                    let (q, qm) = (q.clone(), qm.clone());
                    p.submit_blocking(move || block_on(q.submit_blocking(move || qm.run(|| i))))
                })
                .collect();
            let out = block_on(futures::future::join_all(futs));
            assert_eq!(out, (0..8).map(|i| Ok(Ok(i))).collect::<Vec<_>>());
            assert_eq!(qm.peak(), 1);
            settled(&p);
            assert_eq!(settled(&q).completed, 8);
        });
    }

    #[test]
    fn rayon_join_scope_and_par_iter_inside_a_closure_calling_another_pool() {
        within(30, || {
            let t = threads(4);
            let p = pool_on(1, &t);
            let q = Pool::fixed(2);
            let qm = Arc::new(Meter::default());
            let (q2, qm2) = (q.clone(), qm.clone());
            let out = block_on(p.submit_blocking(move || {
                let leaf = |v: u32| q2.run(|| qm2.run(|| v)).unwrap();
                let (a, b) = rayon::join(|| leaf(1), || leaf(2));
                let c = AtomicUsize::new(0);
                rayon::scope(|s| {
                    for v in 0..8 {
                        let (c, leaf) = (&c, &leaf);
                        s.spawn(move |_| {
                            c.fetch_add(leaf(v) as usize, SeqCst);
                        });
                    }
                });
                let d: u32 = (0..32u32).into_par_iter().map(leaf).sum();
                a + b + c.load(SeqCst) as u32 + d
            }));
            assert_eq!(out, Ok(3 + 28 + 496));
            assert!(qm.peak() <= 2, "peak {}", qm.peak());
            assert_eq!(settled(&q).completed, 42);
            assert_eq!(settled(&p).completed, 1);
        });
    }

    #[test]
    fn par_iter_of_sync_callers_on_rayon_threads_keeps_the_limit() {
        within(20, || {
            let t = threads(4);
            let pool = Pool::fixed(1);
            let meter = Arc::new(Meter::default());
            let sum: u64 = t.install(|| {
                (0..200u64)
                    .into_par_iter()
                    .map(|v| pool.run(|| meter.run(|| v)).unwrap())
                    .sum()
            });
            assert_eq!(sum, 199 * 100);
            assert_eq!(meter.peak(), 1);
            assert_eq!(settled(&pool).completed, 200);
        });
    }

    /// Documented limit (RayonExecutor docs): a rayon thread parked on a slot
    /// held by a job queued behind it deadlocks that rayon pool. With an
    /// admission timeout the wait ends and the queued job runs.
    #[test]
    fn only_rayon_thread_waits_for_a_slot_held_by_a_job_queued_behind_it_timeout_frees_it() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            pool.set_admission_timeout(Some(Duration::from_millis(100)));
            let gate = occupy(&t, 1);
            // Admitted, queued on the rayon thread behind the gate.
            let mut job = Box::pin(pool.submit_blocking(|| "job"));
            assert!(noop_cx_poll(job.as_mut()).is_pending());
            assert_eq!(pool.stats().running, 1);
            // Queued next on rayon: a plain rayon task calling the pool.
            let (tx, rx) = mpsc::channel();
            let p = pool.clone();
            t.spawn(move || {
                let _ = tx.send(p.run(|| "sync"));
            });
            drop(gate);
            // Rayon runs LIFO for its own spawns from outside? Either order ends.
            let sync = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("the sync call ended");
            assert!(
                matches!(sync, Ok("sync") | Err(Rejected::TimedOut)),
                "{sync:?}"
            );
            assert_eq!(block_on(job), Ok("job"));
            settled(&pool);
        });
    }

    /// Every rayon thread parks in `Pool::run` while the slots are held by
    /// jobs queued behind them: the documented limit, ended by a timeout;
    /// afterwards everything is accounted and the pool works.
    #[test]
    fn all_rayon_threads_starved_by_jobs_queued_behind_them_end_with_timeouts() {
        within(20, || {
            let t = threads(2);
            let pool = pool_on(2, &t);
            pool.set_admission_timeout(Some(Duration::from_millis(80)));
            let gate = occupy(&t, 2);
            let mut jobs: Vec<_> = (0..2)
                .map(|i| Box::pin(pool.submit_blocking(move || i)))
                .collect();
            for j in &mut jobs {
                assert!(noop_cx_poll(j.as_mut()).is_pending());
            }
            assert_eq!(pool.stats().running, 2);
            let (tx, rx) = mpsc::channel();
            for _ in 0..2 {
                let (p, tx) = (pool.clone(), tx.clone());
                t.spawn(move || {
                    let _ = tx.send(p.run(|| "sync"));
                });
            }
            drop(gate);
            for _ in 0..2 {
                let r = rx.recv_timeout(Duration::from_secs(5)).expect("ended");
                assert!(matches!(r, Ok("sync") | Err(Rejected::TimedOut)), "{r:?}");
            }
            let outs: Vec<_> = jobs.into_iter().map(block_on).collect();
            assert_eq!(outs, vec![Ok(0), Ok(1)]);
            assert_eq!(block_on(pool.submit_blocking(|| 2)), Ok(2));
            settled(&pool);
        });
    }

    /// Documented limit: a `join` piece stolen by another rayon thread that
    /// calls the same full pool waits for the closure's slot. With a timeout
    /// it ends either way, never more than one running.
    #[test]
    fn join_pieces_calling_the_same_full_pool_end_by_nesting_or_timeout() {
        within(20, || {
            let t = threads(2);
            let pool = pool_on(1, &t);
            pool.set_admission_timeout(Some(Duration::from_millis(100)));
            let meter = Arc::new(Meter::default());
            for _ in 0..3 {
                let (p, m) = (pool.clone(), meter.clone());
                let out = block_on(pool.submit_blocking(move || {
                    rayon::join(
                        || p.run(|| m.run(|| std::thread::sleep(Duration::from_millis(2)))),
                        || p.run(|| m.run(|| std::thread::sleep(Duration::from_millis(2)))),
                    )
                }))
                .unwrap();
                for r in [out.0, out.1] {
                    assert!(matches!(r, Ok(()) | Err(Rejected::TimedOut)), "{r:?}");
                }
            }
            assert_eq!(meter.peak(), 1);
            settled(&pool);
        });
    }

    #[test]
    fn close_while_closures_run_and_wait_lets_the_queue_drain() {
        within(20, || {
            let t = threads(2);
            let pool = pool_on(1, &t);
            let meter = Arc::new(Meter::default());
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let m = meter.clone();
            let first = {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    block_on(pool.submit_blocking(move || m.run(|| go_rx.recv().is_ok())))
                })
            };
            wait_for("first to run", || meter.now.load(SeqCst) == 1);
            let waiters: Vec<_> = (0..3)
                .map(|i| {
                    let (pool, m) = (pool.clone(), meter.clone());
                    std::thread::spawn(move || block_on(pool.submit_blocking(move || m.run(|| i))))
                })
                .collect();
            wait_for("three waiting", || pool.stats().waiting == 3);
            pool.close();
            assert_eq!(block_on(pool.submit_blocking(|| 0)), Err(Rejected::Closed));
            assert_eq!(pool.run(|| 0), Err(Rejected::Closed));
            go_tx.send(()).unwrap();
            assert_eq!(first.join().unwrap(), Ok(true));
            for (i, w) in waiters.into_iter().enumerate() {
                assert_eq!(w.join().unwrap(), Ok(i as i32), "a waiting call still runs");
            }
            assert_eq!(meter.peak(), 1);
            let s = settled(&pool);
            assert_eq!(
                (s.completed, s.rejected_for(Rejected::Closed)),
                (4, 2),
                "{s:?}"
            );
        });
    }

    #[test]
    fn abort_while_jobs_queue_on_rayon_and_in_the_pool() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(2, &t);
            let gate = occupy(&t, 1);
            let meter = Arc::new(Meter::default());
            // Two admitted (queued on rayon), two waiting in the pool.
            let mut futs: Vec<_> = (0..4)
                .map(|i| {
                    let m = meter.clone();
                    Box::pin(pool.submit_blocking(move || m.run(|| i)))
                })
                .collect();
            for f in &mut futs {
                assert!(noop_cx_poll(f.as_mut()).is_pending());
            }
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (2, 2));
            pool.abort();
            drop(gate);
            let outs: Vec<_> = futs.into_iter().map(block_on).collect();
            assert_eq!(
                outs,
                vec![Ok(0), Ok(1), Err(Rejected::Closed), Err(Rejected::Closed)]
            );
            assert_eq!(meter.ran(), 2);
            let s = settled(&pool);
            assert_eq!(s.rejected_for(Rejected::Closed), 2, "{s:?}");
        });
    }

    #[test]
    fn shutdown_waits_for_jobs_queued_on_rayon_and_times_out_while_they_are_stuck() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let gate = occupy(&t, 1);
            let ran = Arc::new(AtomicBool::new(false));
            let mut fut = Box::pin({
                let ran = ran.clone();
                pool.submit_blocking(move || ran.store(true, SeqCst))
            });
            assert!(noop_cx_poll(fut.as_mut()).is_pending());
            drop(fut); // caller gone: the job still holds the slot
            let r = block_on(pool.shutdown(Some(Duration::from_millis(50))));
            assert!(r.is_err(), "the queued job still holds its slot");
            assert!(!ran.load(SeqCst));
            drop(gate);
            let r = block_on(pool.shutdown(Some(Duration::from_secs(5))));
            assert!(r.is_ok(), "{r:?}");
            assert!(ran.load(SeqCst), "the admitted job ran after all");
            settled(&pool);
        });
    }

    #[test]
    fn bad_weights_on_rayon_are_values_not_panics() {
        within(20, || {
            let t = threads(2);
            let pool = Pool::builder()
                .order(pool_runtime::Order::Priority)
                .size(1)
                .blocking_executor(Arc::new(RayonExecutor::new(t.clone())))
                .build()
                .unwrap();
            let futs: Vec<_> = [i64::MIN, i64::MAX, 0, -1, 1]
                .into_iter()
                .map(|w| pool.submit_blocking_weighted(w, move || w))
                .collect();
            let outs = block_on(futures::future::join_all(futs));
            for (o, w) in outs.iter().zip([i64::MIN, i64::MAX, 0, -1, 1]) {
                assert_eq!(*o, Ok(w));
            }
            settled(&pool);
        });
    }

    #[test]
    fn a_barrier_across_more_closures_than_the_limit_never_all_meet() {
        // Limit 2 on 4 rayon threads: a barrier of 3 inside the closures can
        // only be passed if 3 run at once; with a timeout-guarded wait none
        // must ever see 3 arrivals.
        within(20, || {
            let t = threads(4);
            let pool = pool_on(2, &t);
            let arrived = Arc::new(AtomicUsize::new(0));
            let max_seen = Arc::new(AtomicUsize::new(0));
            let futs: Vec<_> = (0..6)
                .map(|_| {
                    let (a, mx) = (arrived.clone(), max_seen.clone());
                    pool.submit_blocking(move || {
                        let n = a.fetch_add(1, SeqCst) + 1;
                        mx.fetch_max(n, SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        mx.fetch_max(a.load(SeqCst), SeqCst);
                        a.fetch_sub(1, SeqCst);
                    })
                })
                .collect();
            assert!(block_on(futures::future::join_all(futs))
                .iter()
                .all(Result::is_ok));
            assert_eq!(max_seen.load(SeqCst), 2);
            settled(&pool);
        });
    }

    #[test]
    fn scale_down_while_blocking_closures_run_admits_nothing_until_under_the_new_size() {
        within(20, || {
            let t = threads(4);
            let pool = pool_on(3, &t);
            let old = Arc::new(Meter::default());
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let go_rx = Arc::new(std::sync::Mutex::new(go_rx));
            let first: Vec<_> = (0..3)
                .map(|_| {
                    let (pool, m, rx) = (pool.clone(), old.clone(), go_rx.clone());
                    std::thread::spawn(move || {
                        block_on(pool.submit_blocking(move || {
                            m.run(|| {
                                let _ = rx.lock().unwrap().recv();
                            })
                        }))
                    })
                })
                .collect();
            wait_for("three running", || old.now.load(SeqCst) == 3);
            pool.resize(1);
            let violations = Arc::new(AtomicUsize::new(0));
            let newer = Arc::new(Meter::default());
            let later: Vec<_> = (0..3)
                .map(|_| {
                    let (pool, old, newer, v) =
                        (pool.clone(), old.clone(), newer.clone(), violations.clone());
                    std::thread::spawn(move || {
                        block_on(pool.submit_blocking(move || {
                            newer.run(|| {
                                if old.now.load(SeqCst) != 0 {
                                    v.fetch_add(1, SeqCst);
                                }
                                std::thread::sleep(Duration::from_millis(1));
                            })
                        }))
                    })
                })
                .collect();
            wait_for("three waiting", || pool.stats().waiting == 3);
            for _ in 0..3 {
                go_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(3));
            }
            for h in first.into_iter().chain(later) {
                assert_eq!(h.join().unwrap(), Ok(()));
            }
            assert_eq!(violations.load(SeqCst), 0, "admitted while running >= size");
            assert_eq!(newer.peak(), 1);
            assert_eq!(settled(&pool).completed, 6);
        });
    }

    #[test]
    fn rayon_futures_dropped_at_random_points_under_tokio_timeouts_keep_the_limit() {
        within(30, || {
            let t = threads(3);
            let pool = pool_on(2, &t);
            let meter = Arc::new(Meter::default());
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let hs: Vec<_> = (0..40u64)
                    .map(|i| {
                        let (pool, m) = (pool.clone(), meter.clone());
                        tokio::spawn(async move {
                            let call = pool.submit_blocking(move || {
                                m.run(|| std::thread::sleep(Duration::from_micros(700)))
                            });
                            let budget = Duration::from_micros(150 * (i % 16));
                            let _ = tokio::time::timeout(budget, call).await;
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            });
            assert!(meter.peak() <= 2, "peak {}", meter.peak());
            let s = settled(&pool);
            assert_eq!(s.submitted(), 40, "{s:?}");
            assert_eq!(meter.now.load(SeqCst), 0);
        });
    }

    #[test]
    fn a_closure_aborting_its_own_pool_turns_away_its_waiting_nested_calls() {
        within(20, || {
            let t = threads(3);
            let pool = pool_on(1, &t);
            let p = pool.clone();
            let out = block_on(pool.submit_blocking(move || {
                let (go_tx, go_rx) = mpsc::channel::<()>();
                let mut first = Box::pin(p.submit_blocking(move || go_rx.recv().is_ok()));
                assert!(noop_cx_poll(first.as_mut()).is_pending());
                let mut second = Box::pin(p.submit_blocking(|| true));
                assert!(noop_cx_poll(second.as_mut()).is_pending());
                let s = p.stats();
                assert_eq!((s.nested, s.waiting), (1, 1), "one nested at a time: {s:?}");
                p.abort();
                go_tx.send(()).unwrap();
                (
                    block_on(first),
                    block_on(second),
                    block_on(p.submit_blocking(|| true)),
                )
            }));
            // README, reentrancy rule: a closed pool does not turn nested calls
            // away ("they belong to admitted work"); `abort` turns away the
            // one that was waiting; a later nested call finds the lend free.
            assert_eq!(out, Ok((Ok(true), Err(Rejected::Closed), Ok(true))));
            settled(&pool);
        });
    }

    #[test]
    fn shutdown_from_inside_its_own_closure_times_out_instead_of_hanging() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let p = pool.clone();
            let out = block_on(pool.submit_blocking(move || {
                block_on(p.shutdown(Some(Duration::from_millis(50)))).is_err()
            }));
            assert_eq!(out, Ok(true), "its own slot keeps the pool from draining");
            assert!(block_on(pool.shutdown(Some(Duration::from_secs(5)))).is_ok());
            settled(&pool);
        });
    }

    #[test]
    fn pool_and_rayon_pool_dropped_while_an_admitted_job_waits_still_run_it() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let gate = occupy(&t, 1);
            let ran = Arc::new(AtomicBool::new(false));
            let stats_view = {
                let mut fut = Box::pin({
                    let ran = ran.clone();
                    pool.submit_blocking(move || ran.store(true, SeqCst))
                });
                assert!(noop_cx_poll(fut.as_mut()).is_pending());
                drop(fut);
                pool.stats()
            };
            assert_eq!(stats_view.running, 1);
            drop(pool);
            drop(t); // the executor held the last other handle; now only the job's
            drop(gate);
            wait_for("the orphan job to run", || ran.load(SeqCst));
        });
    }

    #[test]
    fn a_nested_job_outliving_its_panicking_parent_keeps_the_slot_busy() {
        quiet_panics();
        within(20, || {
            let t = threads(3);
            let pool = pool_on(1, &t);
            let meter = Arc::new(Meter::default());
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let (p, m) = (pool.clone(), meter.clone());
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                block_on(pool.submit_blocking(move || {
                    let mc = m.clone();
                    let mut child = Box::pin(p.submit_blocking(move || {
                        mc.run(|| {
                            let _ = go_rx.recv();
                        })
                    }));
                    assert!(noop_cx_poll(child.as_mut()).is_pending());
                    wait_for("the child to run", || m.now.load(SeqCst) == 1);
                    drop(child);
                    panic!("round49 parent panics");
                }))
            }));
            assert!(r.is_err());
            // The child still runs on the parent's slot: nothing else may start.
            let m = meter.clone();
            let next = {
                let pool = pool.clone();
                std::thread::spawn(move || block_on(pool.submit_blocking(move || m.run(|| 1))))
            };
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(meter.peak(), 1, "a call started beside the orphaned child");
            go_tx.send(()).unwrap();
            assert_eq!(next.join().unwrap(), Ok(1));
            assert_eq!(meter.peak(), 1);
            let s = settled(&pool);
            assert_eq!(s.panicked, 1, "{s:?}");
        });
    }

    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counting() -> (Arc<Counting>, std::task::Waker) {
        let c = Arc::new(Counting::default());
        (c.clone(), std::task::Waker::from(c))
    }

    #[test]
    fn the_latest_waker_is_woken_at_admission_and_at_the_result() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let held = pool.try_acquire_owned(0).unwrap();
            let mut fut = Box::pin(pool.submit_blocking(|| 11));
            let ((_a, wa), (b, wb)) = (counting(), counting());
            fn poll<F: Future>(
                f: &mut std::pin::Pin<Box<F>>,
                w: &std::task::Waker,
            ) -> std::task::Poll<F::Output> {
                f.as_mut().poll(&mut std::task::Context::from_waker(w))
            }
            assert!(poll(&mut fut, &wa).is_pending());
            assert!(poll(&mut fut, &wb).is_pending(), "moved to another task");
            drop(held);
            wait_for("B woken by the admission", || b.0.load(SeqCst) > 0);
            let gate = occupy(&t, 1);
            assert!(
                poll(&mut fut, &wb).is_pending(),
                "admitted, queued on rayon"
            );
            let (c, wc) = counting();
            assert!(poll(&mut fut, &wc).is_pending(), "moved again");
            drop(gate);
            wait_for("C woken by the result", || c.0.load(SeqCst) > 0);
            assert_eq!(poll(&mut fut, &wc), std::task::Poll::Ready(Ok(11)));
            settled(&pool);
        });
    }

    #[test]
    fn priority_order_holds_for_blocking_calls_queued_on_rayon() {
        within(20, || {
            let t = threads(2);
            let pool = Pool::builder()
                .order(pool_runtime::Order::Priority)
                .size(1)
                .blocking_executor(Arc::new(RayonExecutor::new(t.clone())))
                .build()
                .unwrap();
            let held = pool.try_acquire_owned(0).unwrap();
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let weights = [5i64, -3, 9, 0, -3, i64::MIN, i64::MAX];
            let mut futs: Vec<_> = weights
                .iter()
                .enumerate()
                .map(|(i, &w)| {
                    let order = order.clone();
                    Box::pin(pool.submit_blocking_weighted(w, move || {
                        order.lock().unwrap().push((w, i));
                    }))
                })
                .collect();
            for f in &mut futs {
                assert!(noop_cx_poll(f.as_mut()).is_pending());
            }
            drop(held);
            std::thread::scope(|s| {
                let hs: Vec<_> = futs
                    .into_iter()
                    .map(|f| s.spawn(move || block_on(f)))
                    .collect();
                for h in hs {
                    assert_eq!(h.join().unwrap(), Ok(()));
                }
            });
            let mut expect: Vec<_> = weights.iter().copied().zip(0..).collect();
            expect.sort();
            assert_eq!(*order.lock().unwrap(), expect);
            settled(&pool);
        });
    }

    /// The documented starvation (a rayon thread parked in `Pool::run` for a
    /// slot held by a job queued behind it), without a timeout: `abort` turns
    /// the parked call away and the queued job runs.
    #[test]
    fn abort_unblocks_a_rayon_pool_starved_by_its_own_queued_job() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let gate = occupy(&t, 1);
            let (tx, rx) = mpsc::channel();
            let p = pool.clone();
            // Queued first on rayon: a plain task that will wait for the slot.
            t.spawn(move || {
                let _ = tx.send(p.run(|| "sync"));
            });
            // Admitted now, queued on rayon behind that task.
            let mut job = Box::pin(pool.submit_blocking(|| "job"));
            assert!(noop_cx_poll(job.as_mut()).is_pending());
            drop(gate);
            wait_for("the rayon thread to park in the queue", || {
                pool.stats().waiting == 1
            });
            std::thread::sleep(Duration::from_millis(10));
            assert!(rx.try_recv().is_err(), "starved, as documented");
            pool.abort();
            let r = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("abort ended the wait");
            assert_eq!(r, Err(Rejected::Closed));
            assert_eq!(block_on(job), Ok("job"));
            settled(&pool);
        });
    }

    #[test]
    fn full_and_timed_out_blocking_calls_on_rayon_are_values() {
        within(20, || {
            let t = threads(1);
            let pool = pool_on(1, &t);
            let held = pool.try_acquire_owned(0).unwrap();
            pool.set_max_waiting(Some(0)).unwrap();
            assert_eq!(block_on(pool.submit_blocking(|| 1)), Err(Rejected::Full));
            pool.set_max_waiting(None).unwrap();
            pool.set_admission_timeout(Some(Duration::from_millis(30)));
            let start = Instant::now();
            assert_eq!(
                block_on(pool.submit_blocking(|| 1)),
                Err(Rejected::TimedOut)
            );
            assert!(start.elapsed() < Duration::from_secs(5));
            drop(held);
            assert_eq!(block_on(pool.submit_blocking(|| 2)), Ok(2));
            let s = settled(&pool);
            assert_eq!(
                (
                    s.rejected_for(Rejected::Full),
                    s.rejected_for(Rejected::TimedOut)
                ),
                (1, 1),
                "{s:?}"
            );
        });
    }

    /// A closure scales its own pool to 0: its nested call still runs under
    /// its slot (reentrancy rule), an outside call waits for the scale-up.
    #[test]
    fn a_closure_scaling_its_pool_to_zero_still_nests_and_the_queue_holds() {
        within(20, || {
            let t = threads(2);
            let pool = pool_on(1, &t);
            let p = pool.clone();
            let out = block_on(pool.submit_blocking(move || {
                p.resize(0);
                p.run(|| 5)
            }));
            assert_eq!(out, Ok(Ok(5)));
            let outside = {
                let pool = pool.clone();
                std::thread::spawn(move || block_on(pool.submit_blocking(|| 6)))
            };
            wait_for("the outside call to queue", || pool.stats().waiting == 1);
            std::thread::sleep(Duration::from_millis(10));
            assert_eq!(pool.stats().running, 0, "a pool of 0 admits nothing");
            pool.resize(1);
            assert_eq!(outside.join().unwrap(), Ok(6));
            assert_eq!(settled(&pool).completed, 3);
        });
    }
}
