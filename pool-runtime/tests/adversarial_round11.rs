//! Round 11: the exact priority/LIFO order promise under stress, sync
//! callers parked on OS threads, `spawn` handles at every stage, and a
//! seeded random-operation fuzz of the accounting and the limit.

mod common;
#[cfg(feature = "redis")]
mod redis_server;

use common::{assert_accounted, gate, quiet_planned_panics, within, Meter, Task};
use pool_runtime::{Order, Pool, Rejected};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(15);

/// A small deterministic generator (xorshift64*), so the tests need no
/// random crate and replay exactly.
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

/// Polls every task until none makes progress; returns the indices that
/// finished, in the order they finished.
fn settle<F: std::future::Future>(tasks: &mut [Option<Task<F>>]) -> Vec<usize> {
    let mut finished = Vec::new();
    loop {
        let mut progress = false;
        for (i, slot) in tasks.iter_mut().enumerate() {
            if let Some(task) = slot {
                if task.poll().is_ready() {
                    *slot = None;
                    finished.push(i);
                    progress = true;
                }
            }
        }
        if !progress {
            return finished;
        }
    }
}

/// [`settle`] for tasks whose bodies may panic: a poll's panic is caught
/// (that task is gone); the outputs of the tasks that finish are pushed to
/// `outcomes`.
fn settle_catching<F: std::future::Future>(
    tasks: &mut [Option<Task<F>>],
    outcomes: &mut Vec<F::Output>,
) {
    loop {
        let mut progress = false;
        for slot in tasks.iter_mut() {
            if let Some(t) = slot {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.poll())) {
                    Ok(std::task::Poll::Pending) => {}
                    Ok(std::task::Poll::Ready(r)) => {
                        outcomes.push(r);
                        *slot = None;
                        progress = true;
                    }
                    Err(_) => {
                        *slot = None;
                        progress = true;
                    }
                }
            }
        }
        if !progress {
            return;
        }
    }
}

// ---- priority and LIFO order ----------------------------------------------

/// Holds the only slot, queues one call per weight, releases the slot and
/// returns the order in which the bodies ran.
fn run_order(order: Order, weights: &[i64], cancel: &[usize]) -> Vec<usize> {
    let pool = Pool::builder().order(order).size(1).build().unwrap();
    let ran = RefCell::new(Vec::new());
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let ran_ref = &ran;
    let mut calls: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let mut t =
                Task::new(pool.submit_weighted(w, async move { ran_ref.borrow_mut().push(i) }));
            t.assert_pending();
            Some(t)
        })
        .collect();
    for &i in cancel {
        calls[i] = None;
    }
    assert_eq!(pool.stats().waiting, weights.len() - cancel.len());
    open.store(true, SeqCst);
    assert_eq!(holder.assert_ready(), Ok(()));
    settle(&mut calls);
    assert!(calls.iter().all(Option::is_none));
    let stats = pool.stats();
    assert_eq!(stats.cancelled, cancel.len() as u64);
    assert_eq!((stats.running, stats.waiting), (0, 0));
    assert_accounted(&stats);
    drop(calls);
    ran.take()
}

/// The documented order: smaller weights first, equal weights first come
/// first served — a stable sort by weight, over the whole `i64` range.
fn expected_priority(weights: &[i64], cancel: &[usize]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..weights.len()).filter(|i| !cancel.contains(i)).collect();
    idx.sort_by_key(|&i| weights[i]); // stable
    idx
}

#[test]
fn priority_is_a_stable_sort_by_weight_over_the_whole_i64_range() {
    let mut rng = Rng(0x5eed_0011);
    let extremes = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    for round in 0..20 {
        let n = 50 + rng.below(150) as usize;
        let weights: Vec<i64> = (0..n)
            .map(|_| match rng.below(3) {
                0 => extremes[rng.below(extremes.len() as u64) as usize],
                1 => rng.below(4) as i64, // many ties
                _ => rng.next() as i64,
            })
            .collect();
        let cancel: Vec<usize> = if round % 2 == 0 {
            (0..n).filter(|_| rng.below(5) == 0).collect()
        } else {
            Vec::new()
        };
        assert_eq!(
            run_order(Order::Priority, &weights, &cancel),
            expected_priority(&weights, &cancel),
            "round {round}, weights {weights:?}, cancelled {cancel:?}"
        );
    }
}

#[test]
fn priority_all_equal_weights_at_the_extremes_is_fifo() {
    for w in [i64::MIN, 0, i64::MAX] {
        let weights = vec![w; 300];
        assert_eq!(
            run_order(Order::Priority, &weights, &[]),
            (0..300).collect::<Vec<_>>()
        );
    }
}

#[test]
fn lifo_with_cancellations_in_the_middle_is_newest_first_among_the_rest() {
    let n = 40;
    let cancel = [0, 1, 7, 8, 9, 20, 38];
    let expected: Vec<usize> = (0..n).rev().filter(|i| !cancel.contains(i)).collect();
    assert_eq!(run_order(Order::Lifo, &[0; 40], &cancel), expected);
    // FIFO likewise.
    let expected: Vec<usize> = (0..n).filter(|i| !cancel.contains(i)).collect();
    assert_eq!(run_order(Order::Fifo, &[0; 40], &cancel), expected);
}

/// A scale-up that admits several at once admits the first ones in order,
/// and the rest follow in order.
#[test]
fn scale_up_admitting_several_at_once_keeps_the_order() {
    for (order, weights) in [
        (
            Order::Priority,
            vec![5, i64::MAX, -2, 5, i64::MIN, 0, -2, 9, 5, 1],
        ),
        (Order::Fifo, vec![0; 10]),
        (Order::Lifo, vec![0; 10]),
    ] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let (held, open) = gate();
        let mut holder = Task::new(pool.submit(held));
        holder.assert_pending();
        let admitted = RefCell::new(Vec::new());
        let adm = &admitted;
        // Every body announces itself, then holds its slot until the gate.
        let gates: Vec<_> = (0..weights.len()).map(|_| gate()).collect();
        let mut calls: Vec<_> = weights
            .iter()
            .zip(gates.iter())
            .enumerate()
            .map(|(i, (&w, (g, _)))| {
                let g = common::Gate(g.0.clone());
                let mut t = Task::new(pool.submit_weighted(w, async move {
                    adm.borrow_mut().push(i);
                    g.await
                }));
                t.assert_pending();
                Some(t)
            })
            .collect();
        let expected: Vec<usize> = match order {
            Order::Priority => expected_priority(&weights, &[]),
            Order::Lifo => (0..weights.len()).rev().collect(),
            _ => (0..weights.len()).collect(),
        };
        // Grow by 3 while the holder still runs: exactly the next 3 in order.
        assert_eq!(pool.resize(4), 4);
        settle(&mut calls);
        let first: Vec<usize> = admitted.borrow().clone();
        let mut first_sorted = first.clone();
        first_sorted.sort();
        let mut want = expected[..3].to_vec();
        want.sort();
        assert_eq!(first_sorted, want, "{order:?}");
        assert_eq!(pool.stats().running, 4);
        // Release everything in turn; the rest follow in order.
        open.store(true, SeqCst);
        assert_eq!(holder.assert_ready(), Ok(()));
        for (_, o) in &gates {
            o.store(true, SeqCst);
        }
        settle(&mut calls);
        drop(calls);
        let all = admitted.take();
        assert_eq!(all.len(), weights.len());
        assert_eq!(&all[3..4], &expected[3..4], "{order:?}: {all:?}");
        assert_accounted(&pool.stats());
    }
}

/// Weights are fixed at submission: resizing while calls wait (down to 0
/// and back) does not reorder them.
#[test]
fn resize_to_zero_and_back_while_waiting_keeps_the_priority_order() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(2)
        .build()
        .unwrap();
    let weights = [3, -1, 3, i64::MIN, 7, -1, i64::MAX, 0];
    let ran = RefCell::new(Vec::new());
    let r = &ran;
    let (h1, o1) = gate();
    let (h2, o2) = gate();
    let mut holders = [Task::new(pool.submit(h1)), Task::new(pool.submit(h2))];
    for h in &mut holders {
        h.assert_pending();
    }
    let mut calls: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let mut t = Task::new(pool.submit_weighted(w, async move { r.borrow_mut().push(i) }));
            t.assert_pending();
            Some(t)
        })
        .collect();
    assert_eq!(pool.resize(0), 0);
    o1.store(true, SeqCst);
    o2.store(true, SeqCst);
    for h in &mut holders {
        assert_eq!(h.assert_ready(), Ok(()));
    }
    assert!(settle(&mut calls).is_empty(), "a pool of 0 admitted a call");
    pool.scale(-3);
    pool.scale(1);
    settle(&mut calls);
    pool.resize(1);
    settle(&mut calls);
    assert!(calls.iter().all(Option::is_none));
    drop(calls);
    assert_eq!(ran.take(), expected_priority(&weights, &[]));
}

// ---- sync callers -----------------------------------------------------------

#[test]
fn sixty_four_threads_on_a_pool_of_two_with_panicking_bodies() {
    quiet_planned_panics();
    within(LIMIT, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(2)
            .build()
            .unwrap();
        let meter = Meter::default();
        let panics = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..64)
            .map(|t| {
                let pool = pool.clone();
                let meter = meter.clone();
                let panics = panics.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            pool.run_weighted((t * 7 + i) % 5, || {
                                let _in = meter.enter();
                                std::thread::yield_now();
                                if (t + i) % 9 == 0 {
                                    panic!("planned: sync body");
                                }
                            })
                        }));
                        match out {
                            Ok(r) => r.unwrap(),
                            Err(_) => {
                                panics.fetch_add(1, SeqCst);
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(meter.max() <= 2, "max {}", meter.max());
        let stats = pool.stats();
        assert_eq!(stats.completed, 64 * 20);
        assert_eq!(stats.panicked, panics.load(SeqCst) as u64);
        assert_eq!((stats.running, stats.waiting, stats.nested), (0, 0, 0));
        assert_accounted(&stats);
    });
}

/// Parks `n` sync callers behind a held slot and returns their results'
/// receiver once all are waiting.
fn park_callers(
    pool: &Pool,
    n: usize,
    ran: &Arc<AtomicUsize>,
) -> mpsc::Receiver<Result<(), Rejected>> {
    let (tx, rx) = mpsc::channel();
    for _ in 0..n {
        let pool = pool.clone();
        let tx = tx.clone();
        let ran = ran.clone();
        std::thread::spawn(move || {
            let _ = tx.send(pool.run(|| {
                ran.fetch_add(1, SeqCst);
            }));
        });
    }
    while pool.stats().waiting < n {
        std::thread::yield_now();
    }
    rx
}

#[test]
fn abort_returns_every_parked_sync_caller_with_closed() {
    within(LIMIT, || {
        let pool = Pool::fixed(1);
        let permit = pool.try_acquire().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let rx = park_callers(&pool, 16, &ran);
        pool.abort();
        for _ in 0..16 {
            assert_eq!(rx.recv().unwrap(), Err(Rejected::Closed));
        }
        drop(permit);
        assert_eq!(ran.load(SeqCst), 0);
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Closed), 16);
        assert_accounted(&stats);
    });
}

#[test]
fn close_lets_every_parked_sync_caller_run_and_pause_does_not_strand_them() {
    within(LIMIT, || {
        let pool = Pool::fixed(1);
        let permit = pool.try_acquire().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let rx = park_callers(&pool, 16, &ran);
        // Paused: waiting calls keep being admitted (documented on `pause`).
        pool.pause();
        assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
        pool.close();
        assert_eq!(pool.run(|| ()), Err(Rejected::Closed));
        drop(permit);
        for _ in 0..16 {
            assert_eq!(rx.recv().unwrap(), Ok(()));
        }
        assert_eq!(ran.load(SeqCst), 16);
        pool.resume();
        let stats = pool.stats();
        assert_eq!(stats.completed, 17);
        assert_accounted(&stats);
    });
}

#[test]
fn sync_admission_timeout_is_a_value_and_leaves_the_queue() {
    within(LIMIT, || {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::from_millis(30))
            .build()
            .unwrap();
        let permit = pool.try_acquire().unwrap();
        assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
        assert_eq!(pool.run_weighted(-5, || ()), Err(Rejected::TimedOut));
        assert_eq!(pool.stats().waiting, 0);
        drop(permit);
        assert_eq!(pool.run(|| 7), Ok(7));
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::TimedOut), 2);
        assert_accounted(&stats);
    });
}

/// A panic in a sync call's body (and in async work of the pool around it)
/// leaves nothing behind on the thread: a later call there that must wait
/// parks and runs, instead of being taken for a nested call.
#[test]
fn a_panic_leaves_the_thread_clean_for_a_later_waiting_call() {
    quiet_planned_panics();
    within(LIMIT, || {
        let pool = Pool::fixed(1);
        let p2 = pool.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(pool.submit(async {
                // nested sync call inside the pool's own work: uses the
                // parent's slot, then panics
                let _ = p2.run(|| panic!("planned: nested sync body"));
            }))
        }));
        assert!(r.is_err());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(|| panic!("planned: sync body"))
        }));
        assert!(r.is_err());
        let stats = pool.stats();
        assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
        // Now a holder on another thread, and this thread must wait.
        let (tx, rx) = mpsc::channel::<()>();
        let (held_tx, held_rx) = mpsc::channel::<()>();
        let holder = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                pool.run(|| {
                    held_tx.send(()).unwrap();
                    rx.recv().unwrap();
                })
                .unwrap();
            })
        };
        held_rx.recv().unwrap();
        let releaser = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                while pool.stats().waiting == 0 {
                    std::thread::yield_now();
                }
                tx.send(()).unwrap();
            })
        };
        assert_eq!(pool.run(|| 1), Ok(1));
        holder.join().unwrap();
        releaser.join().unwrap();
        let stats = pool.stats();
        // The nested call and the work around it both panicked.
        assert_eq!(stats.panicked, 3);
        assert_accounted(&stats);
    });
}

/// A sync call from inside the pool's own async work on a multi-thread
/// runtime: the nested call borrows the parent's slot; the limit holds.
#[test]
fn sync_call_nested_in_async_work_borrows_the_slot() {
    within(LIMIT, || {
        let rt = common::runtime();
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        rt.block_on(async {
            let mut handles = Vec::new();
            for _ in 0..8 {
                let pool = pool.clone();
                let meter = meter.clone();
                handles.push(tokio::spawn(async move {
                    let p2 = pool.clone();
                    pool.submit(async move {
                        let _outer = meter.enter();
                        // nested: uses the parent's slot, no new body counted
                        p2.run(|| tokio::task::yield_now).unwrap();
                        tokio::task::yield_now().await;
                    })
                    .await
                }));
            }
            for h in handles {
                h.await.unwrap().unwrap();
            }
        });
        assert!(meter.max() <= 2);
        let stats = pool.stats();
        assert_eq!(stats.completed, 16);
        assert_accounted(&stats);
    });
}

// ---- spawn ---------------------------------------------------------------

#[test]
fn spawn_abort_while_waiting_and_while_running_and_detached_handles() {
    within(LIMIT, || {
        let rt = common::runtime();
        rt.block_on(async {
            let pool = Pool::fixed(1);
            let meter = Meter::default();
            let permit = pool.acquire().await.unwrap();
            // waiting, then aborted
            let waiting = pool.spawn(meter.clone().body(1)).unwrap();
            assert_eq!(pool.stats().waiting, 1);
            waiting.abort();
            assert_eq!(waiting.await, Err(Rejected::Closed));
            assert_eq!(pool.stats().waiting, 0);
            drop(permit);
            // running, then aborted
            let (started_tx, started_rx) = tokio::sync::oneshot::channel();
            let m = meter.clone();
            let running = pool
                .spawn(async move {
                    let _in = m.enter();
                    started_tx.send(()).unwrap();
                    std::future::pending::<()>().await
                })
                .unwrap();
            started_rx.await.unwrap();
            assert_eq!(pool.stats().running, 1);
            running.abort();
            assert_eq!(running.await, Err(Rejected::Closed));
            assert_eq!(meter.now(), 0);
            // the slot is free again
            let p = tokio::time::timeout(LIMIT, pool.acquire())
                .await
                .unwrap()
                .unwrap();
            // detached: dropping the handle lets the call run
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            drop(
                pool.spawn(async move { done_tx.send(()).unwrap() })
                    .unwrap(),
            );
            drop(p);
            done_rx.await.unwrap();
            // join after close: a queued spawned call still runs
            let p = pool.acquire().await.unwrap();
            let queued = pool.spawn(async { 5 }).unwrap();
            pool.close();
            assert_eq!(pool.spawn(async { 6 }).err(), Some(Rejected::Closed));
            drop(p);
            assert_eq!(queued.await, Ok(5));
            pool.drained().await;
            let stats = pool.stats();
            assert_eq!(stats.cancelled, 2, "{stats:?}");
            assert_eq!((stats.running, stats.waiting), (0, 0));
            assert_accounted(&stats);
        });
    });
}

/// The runtime shuts down with spawned calls waiting and running: their
/// tasks are dropped, and the pool counts them cancelled and settles.
#[test]
fn runtime_shutdown_with_spawned_calls_settles_the_stats() {
    within(LIMIT, || {
        let pool = Pool::fixed(2);
        let rt = common::runtime();
        let handles = rt.block_on(async {
            let mut hs = Vec::new();
            for _ in 0..10 {
                hs.push(pool.spawn(std::future::pending::<()>()).unwrap());
            }
            while pool.stats().running < 2 {
                tokio::task::yield_now().await;
            }
            hs
        });
        assert_eq!(pool.stats().waiting, 8);
        drop(rt);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_eq!(stats.cancelled, 10);
        assert_accounted(&stats);
        // The handles of a dead runtime resolve (as cancelled), never hang.
        for h in handles {
            assert_eq!(futures::executor::block_on(h), Err(Rejected::Closed));
        }
        // The pool is still usable.
        assert_eq!(pool.run(|| 3), Ok(3));
    });
}

// ---- random-operation fuzz ------------------------------------------------

#[test]
fn seeded_random_operations_keep_the_limit_and_the_accounting() {
    quiet_planned_panics();
    let seeds: u64 = std::env::var("ROUND11_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    for seed in 1..=seeds {
        fuzz(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
}

fn fuzz(seed: u64) {
    let mut rng = Rng(seed | 1);
    let order = [Order::Fifo, Order::Lifo, Order::Priority][rng.below(3) as usize];
    let pool = Pool::builder()
        .order(order)
        .size(1 + rng.below(4) as usize)
        .max_waiting(if rng.below(2) == 0 { 20 } else { 10_000 })
        .build()
        .unwrap();
    let meter = Meter::default();
    // The largest limit in force during the current step: a body that
    // starts must fit under it (running work may exceed a lowered limit,
    // but nothing new starts past it).
    let allowed = std::cell::Cell::new(pool.size());
    let violations = std::cell::Cell::new(0usize);
    let (meter_r, allowed_r, violations_r) = (&meter, &allowed, &violations);
    let mut calls = Vec::new();
    let mut gates: Vec<Arc<AtomicBool>> = Vec::new();
    let mut permits = Vec::new();
    let mut outcomes = Vec::new();
    let mut panics = 0u64;
    let mut try_rejected = 0u64;
    for _step in 0..400 {
        allowed.set(pool.size());
        match rng.below(12) {
            0..=3 => {
                let (g, open) = gate();
                let boom = rng.below(10) == 0;
                if boom {
                    panics += 1;
                }
                let mut t = Task::new(pool.submit_weighted(rng.below(5) as i64 - 2, async move {
                    let _in = meter_r.enter();
                    if meter_r.now() > allowed_r.get() {
                        violations_r.set(violations_r.get() + 1);
                    }
                    g.await;
                    if boom {
                        panic!("planned: fuzz body");
                    }
                }));
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.poll())) {
                    Ok(std::task::Poll::Pending) => {
                        calls.push(Some(t));
                        gates.push(open);
                    }
                    Ok(std::task::Poll::Ready(r)) => outcomes.push(r),
                    Err(_) => {}
                }
            }
            4 => {
                if let Ok(p) = pool.try_acquire().inspect_err(|_| try_rejected += 1) {
                    let inside = meter.enter();
                    if meter.now() > allowed.get() {
                        violations.set(violations.get() + 1);
                    }
                    permits.push((p, inside));
                }
            }
            5 => {
                if !permits.is_empty() {
                    let i = rng.below(permits.len() as u64) as usize;
                    drop(permits.swap_remove(i));
                }
            }
            6 | 7 => {
                if !gates.is_empty() {
                    let i = rng.below(gates.len() as u64) as usize;
                    gates[i].store(true, SeqCst);
                }
            }
            8 => {
                // cancel one (waiting or running)
                if !calls.is_empty() {
                    let i = rng.below(calls.len() as u64) as usize;
                    calls[i] = None;
                }
            }
            9 => {
                let before = pool.size();
                let after = pool.scale(rng.below(7) as isize - 3);
                allowed.set(before.max(after));
            }
            10 => {
                if rng.below(2) == 0 {
                    pool.pause();
                } else {
                    pool.resume();
                }
            }
            _ => {
                if rng.below(20) == 0 {
                    if rng.below(2) == 0 {
                        pool.close();
                    } else {
                        pool.abort();
                    }
                }
            }
        }
        // Drive everything (panicking bodies are caught per poll).
        settle_catching(&mut calls, &mut outcomes);
        assert_eq!(violations.get(), 0, "seed {seed:#x}: limit exceeded");
        let stats = pool.stats();
        assert_eq!(stats.running, meter.now(), "seed {seed:#x}: {stats:?}");
        assert_accounted(&stats);
    }
    // Quiesce: let everything finish.
    pool.resume();
    if pool.size() == 0 {
        pool.resize(1);
    }
    permits.clear();
    for g in &gates {
        g.store(true, SeqCst);
    }
    settle_catching(&mut calls, &mut outcomes);
    assert!(
        calls.iter().all(Option::is_none),
        "seed {seed:#x}: calls left hanging: {:?}",
        pool.stats()
    );
    assert_eq!(meter.now(), 0);
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "seed {seed:#x}");
    assert_accounted(&stats);
    assert!(stats.panicked <= panics);
    let rejected = outcomes.iter().filter(|r| r.is_err()).count() as u64;
    assert_eq!(
        rejected + try_rejected,
        stats.rejected_total(),
        "seed {seed:#x}"
    );
}

// ---- more: nesting on blocking threads, sync order, spawn rejections ------

/// Reentrancy: a sync call made from the pool's own blocking closure (which
/// holds the only slot) must not deadlock.
#[test]
fn run_inside_the_pools_own_blocking_closure_does_not_deadlock() {
    within(LIMIT, || {
        let rt = common::runtime();
        let pool = Pool::fixed(1);
        let p2 = pool.clone();
        let out = rt.block_on(pool.submit_blocking(move || p2.run(|| 41).map(|v| v + 1)));
        assert_eq!(out, Ok(Ok(42)));
        let stats = pool.stats();
        assert_eq!((stats.running, stats.nested), (0, 0));
        assert_accounted(&stats);
    });
}

/// `run` inside `run` (pool of 1) borrows the slot; a panic of the inner
/// body leaves the thread clean for a later call that must wait.
#[test]
fn run_inside_run_then_a_panic_then_a_waiting_call_on_the_same_thread() {
    quiet_planned_panics();
    within(LIMIT, || {
        let pool = Pool::fixed(1);
        assert_eq!(pool.run(|| pool.run(|| 5)), Ok(Ok(5)));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(|| pool.run(|| -> () { panic!("planned: inner") }))
        }));
        assert!(r.is_err());
        let stats = pool.stats();
        assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
        let permit = pool.try_acquire_owned(0).unwrap();
        // Must wait (the permit is held here, not by a parent call): drop it
        // from another thread once this call is queued.
        let holder = std::thread::spawn({
            let pool = pool.clone();
            move || {
                while pool.stats().waiting == 0 {
                    std::thread::yield_now();
                }
                drop(permit);
            }
        });
        assert_eq!(pool.run(|| 9), Ok(9));
        holder.join().unwrap();
        assert_accounted(&pool.stats());
    });
}

/// Sync callers on OS threads are admitted in the pool's order.
#[test]
fn parked_sync_callers_are_admitted_by_weight_then_arrival() {
    within(LIMIT, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let permit = pool.try_acquire_owned(0).unwrap();
        let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
        let weights = [0, i64::MAX, -4, 0, i64::MIN, -4, i64::MAX, 2];
        let mut threads = Vec::new();
        for (i, &w) in weights.iter().enumerate() {
            let pool2 = pool.clone();
            let ran = ran.clone();
            threads.push(std::thread::spawn(move || {
                pool2
                    .run_weighted(w, || ran.lock().unwrap().push(i))
                    .unwrap()
            }));
            while pool.stats().waiting < i + 1 {
                std::thread::yield_now();
            }
        }
        drop(permit);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*ran.lock().unwrap(), expected_priority(&weights, &[]));
    });
}

#[test]
fn spawned_calls_time_out_get_aborted_and_keep_their_queue_position() {
    within(LIMIT, || {
        let rt = common::runtime();
        rt.block_on(async {
            // Timeout through the handle.
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(20))
                .build()
                .unwrap();
            let permit = pool.acquire().await.unwrap();
            let h = pool.spawn(async { 1 }).unwrap();
            assert_eq!(h.await, Err(Rejected::TimedOut));
            drop(permit);
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::TimedOut), 1);
            assert_accounted(&s);

            // An aborting close turns spawned waiters away through their handles.
            let pool = Pool::builder()
                .order(Order::Priority)
                .size(1)
                .build()
                .unwrap();
            let permit = pool.acquire().await.unwrap();
            let hs: Vec<_> = (0..5).map(|_| pool.spawn(async { 1 }).unwrap()).collect();
            pool.abort();
            for h in hs {
                assert_eq!(h.await, Err(Rejected::Closed));
            }
            drop(permit);
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::Closed), 5);
            assert_accounted(&s);

            // Spawned calls take their position when spawned: weight order,
            // ties by spawn order.
            let pool = Pool::builder()
                .order(Order::Priority)
                .size(1)
                .build()
                .unwrap();
            let permit = pool.acquire().await.unwrap();
            let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
            let weights = [3, 1, i64::MIN, 1, 3];
            let mut hs = Vec::new();
            for (i, &w) in weights.iter().enumerate() {
                let ran = ran.clone();
                hs.push(
                    pool.spawn_weighted(w, async move { ran.lock().unwrap().push(i) })
                        .unwrap(),
                );
            }
            drop(permit);
            for h in hs {
                h.await.unwrap();
            }
            assert_eq!(*ran.lock().unwrap(), expected_priority(&weights, &[]));
            assert_accounted(&pool.stats());
        });
    });
}

// ---- fuzz over every kind, several operations between sweeps ---------------

type Boxed<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Rejected>> + 'a>>;

#[test]
fn seeded_random_operations_over_every_kind_keep_the_limit_and_the_accounting() {
    quiet_planned_panics();
    let seeds: u64 = std::env::var("ROUND11_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    for seed in std::env::var("ROUND11_ONLY")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(1..=seeds, |k: u64| k..=k)
    {
        fuzz_kinds(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
    }
}

fn fuzz_kinds(seed: u64) {
    use pool_runtime::{AdaptiveSettings, Kind, ManualClock, ScalePolicy, Verdict};
    let mut rng = Rng(seed | 1);
    let clock = ManualClock::new();
    let order = [Order::Fifo, Order::Lifo, Order::Priority][rng.below(3) as usize];
    let builder = Pool::builder().order(order).clock(clock.clone());
    let builder = match rng.below(3) {
        0 => builder.size(1 + rng.below(3) as usize),
        1 => builder.kind(Kind::Autoscale).min(1).max(5),
        _ => builder
            .kind(Kind::Autoscale)
            .min(1)
            .max(6)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default())),
    };
    let pool = builder.build().unwrap();
    let meter = Meter::default();
    let allowed = std::cell::Cell::new(pool.size());
    let violations = std::cell::Cell::new(Vec::<(usize, usize)>::new());
    let (meter_r, allowed_r, violations_r) = (&meter, &allowed, &violations);
    let pool_c = &pool;
    let check = move || {
        // (An autoscaler may have raised the limit in this very call.)
        let (now, lim) = (meter_r.now(), allowed_r.get().max(pool_c.size()));
        if std::env::var_os("ROUND11_TRACE").is_some() {
            eprintln!("  body start now {now} allowed {lim} {:?}", pool_c.stats());
        }
        if now > lim {
            let mut v = violations_r.take();
            v.push((now, lim));
            violations_r.set(v);
        }
    };
    let mut calls: Vec<Option<Task<Boxed<'_>>>> = Vec::new();
    let mut gates: Vec<Arc<AtomicBool>> = Vec::new();
    let mut permits = Vec::new();
    let pool_r = &pool;
    for _step in 0..300 {
        allowed.set(allowed.get().max(pool.size()));
        for _op in 0..1 + rng.below(3) {
            let opk = rng.below(16);
            if std::env::var_os("ROUND11_TRACE").is_some() {
                eprintln!("op {opk} calls {} before {:?}", calls.len(), pool.stats());
            }
            match opk {
                0..=3 => {
                    let (g, open) = gate();
                    let boom = rng.below(10) == 0;
                    let w = [i64::MIN, -1, 0, 0, 1, i64::MAX][rng.below(6) as usize];
                    let ty = rng.below(3);
                    if std::env::var_os("ROUND11_TRACE").is_some() {
                        eprintln!("  new call type {ty} weight {w} boom {boom}");
                    }
                    let fut: Boxed<'_> = match ty {
                        0 => Box::pin(async move {
                            pool_r
                                .submit_judged(
                                    w,
                                    async move {
                                        let _in = meter_r.enter();
                                        check();
                                        g.await;
                                        if boom {
                                            panic!("planned: fuzz body");
                                        }
                                    },
                                    |()| Verdict::Success,
                                )
                                .await
                                .err()
                        }),
                        1 => Box::pin(async move {
                            match pool_r.acquire_weighted(w).await {
                                Ok(_permit) => {
                                    let _in = meter_r.enter();
                                    check();
                                    g.await;
                                    None
                                }
                                Err(e) => Some(e),
                            }
                        }),
                        _ => Box::pin(async move {
                            pool_r
                                .submit_weighted(w, async move {
                                    let _in = meter_r.enter();
                                    check();
                                    g.await;
                                    if boom {
                                        panic!("planned: fuzz body");
                                    }
                                })
                                .await
                                .err()
                        }),
                    };
                    calls.push(Some(Task::new(fut)));
                    gates.push(open);
                }
                4 => {
                    if let Ok(p) = pool.try_acquire() {
                        let inside = meter.enter();
                        check();
                        permits.push((p, inside));
                    }
                }
                5 | 6 => {
                    if !permits.is_empty() {
                        let i = rng.below(permits.len() as u64) as usize;
                        drop(permits.swap_remove(i));
                    }
                }
                7 | 8 => {
                    if !gates.is_empty() {
                        let i = rng.below(gates.len() as u64) as usize;
                        gates[i].store(true, SeqCst);
                    }
                }
                9 => {
                    if !calls.is_empty() {
                        let i = rng.below(calls.len() as u64) as usize;
                        calls[i] = None;
                    }
                }
                10 => {
                    pool.scale(rng.below(7) as isize - 3);
                }
                11 => {
                    let lo = rng.below(4) as usize;
                    let _ = pool.set_bounds(lo, lo + rng.below(4) as usize);
                }
                12 => {
                    let _ = pool.set_max_waiting(if rng.below(2) == 0 {
                        Some(1 + rng.below(10) as usize)
                    } else {
                        None
                    });
                }
                13 => {
                    if rng.below(2) == 0 {
                        pool.pause();
                    } else {
                        pool.resume();
                    }
                }
                14 => clock.advance(Duration::from_millis(rng.below(20_000))),
                _ => {
                    if rng.below(30) == 0 {
                        if rng.below(2) == 0 {
                            pool.close();
                        } else {
                            pool.abort();
                        }
                    }
                }
            }
            allowed.set(allowed.get().max(pool.size()));
        }
        sweep(&mut calls, &mut rng, &pool, &allowed);
        let v = violations.take();
        assert!(v.is_empty(), "seed {seed:#x}: limit exceeded {v:?}");
        let stats = pool.stats();
        assert_eq!(stats.running, meter.now(), "seed {seed:#x}: {stats:?}");
        assert_accounted(&stats);
        allowed.set(pool.size());
    }
    pool.resume();
    let _ = pool.set_bounds(1, 8);
    if pool.size() == 0 {
        pool.resize(1);
    }
    permits.clear();
    for g in &gates {
        g.store(true, SeqCst);
    }
    allowed.set(usize::MAX);
    sweep(&mut calls, &mut rng, &pool, &allowed);
    assert!(
        calls.iter().all(Option::is_none),
        "seed {seed:#x}: calls left hanging: {:?}",
        pool.stats()
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.waiting, meter.now()),
        (0, 0, 0),
        "seed {seed:#x}"
    );
    assert_accounted(&stats);
    if std::env::var_os("ROUND11_VERBOSE").is_some() {
        eprintln!("seed {seed:#x}: {stats:?}");
    }
}

/// Polls the live calls in a random order until none finishes and none
/// was woken (a waiter handed a slot), then once more in index order.
fn sweep(
    calls: &mut [Option<Task<Boxed<'_>>>],
    rng: &mut Rng,
    pool: &Pool,
    allowed: &std::cell::Cell<usize>,
) {
    let n = calls.len();
    let pass = |calls: &mut [Option<Task<Boxed<'_>>>], order: &mut dyn Iterator<Item = usize>| {
        let mut progress = false;
        for i in order {
            allowed.set(allowed.get().max(pool.size()));
            if let Some(t) = &mut calls[i] {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.poll())) {
                    Ok(std::task::Poll::Pending) => {}
                    Ok(std::task::Poll::Ready(_)) | Err(_) => {
                        calls[i] = None;
                        progress = true;
                    }
                }
            }
        }
        progress || calls.iter().flatten().any(Task::is_woken)
    };
    loop {
        let start = if n == 0 {
            0
        } else {
            rng.below(n as u64) as usize
        };
        let step = if n == 0 {
            1
        } else {
            1 + rng.below(n as u64) as usize
        };
        // (Not a permutation unless gcd(step, n) == 1: the index pass below
        // covers what it skips.)
        let random = pass(calls, &mut (0..n).map(|k| (start + k * step) % n));
        let ordered = pass(calls, &mut (0..n));
        if !random && !ordered {
            return;
        }
    }
}

// ---- every call path at once, from threads and tasks, while resizing --------

/// Sync callers, async submits, blocking closures, spawned calls and
/// permits, with nested sync calls in each, hammer a priority pool whose
/// size a thread keeps changing within 1..=3: counted from outside, never
/// more than 3 bodies at once; at the end everything is accounted for.
#[test]
fn every_call_path_at_once_while_resizing_keeps_the_limit() {
    quiet_planned_panics();
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(2)
            .build()
            .unwrap();
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let rt = Arc::new(common::runtime());
        let mut threads = Vec::new();
        // The resizer.
        {
            let (pool, stop) = (pool.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut rng = Rng(77);
                while !stop.load(SeqCst) {
                    pool.resize(1 + rng.below(3) as usize);
                    std::thread::yield_now();
                }
            }));
        }
        for t in 0..8u64 {
            let (pool, meter, rt) = (pool.clone(), meter.clone(), rt.clone());
            threads.push(std::thread::spawn(move || {
                let mut rng = Rng(1000 + t);
                for i in 0..60 {
                    let w = rng.below(5) as i64 - 2;
                    let boom = rng.below(15) == 0;
                    let path = (t + i) % 5;
                    let body = {
                        let (meter, pool) = (meter.clone(), pool.clone());
                        move || {
                            let _in = meter.enter();
                            // nested: shares this call's slot (a permit is
                            // no call's work: nothing nests under it)
                            if path != 4 {
                                assert_eq!(pool.run(|| 1), Ok(1));
                            }
                            std::thread::yield_now();
                            if boom {
                                panic!("planned: stress body");
                            }
                        }
                    };
                    let out =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match path {
                            0 => pool.run_weighted(w, body).map(|_| ()),
                            1 => rt.block_on(pool.submit_weighted(w, async move { body() })),
                            2 => rt.block_on(pool.submit_blocking_weighted(w, body)),
                            3 => {
                                let _g = rt.enter();
                                match pool.spawn_weighted(w, async move { body() }) {
                                    Ok(h) => rt.block_on(h),
                                    Err(e) => Err(e),
                                }
                            }
                            _ => {
                                let permit = rt.block_on(pool.acquire_weighted(w))?;
                                body();
                                drop(permit);
                                Ok(())
                            }
                        }));
                    if let Ok(r) = out {
                        r.unwrap();
                    }
                }
            }));
        }
        let resizer = threads.remove(0);
        for t in threads {
            t.join().unwrap();
        }
        stop.store(true, SeqCst);
        resizer.join().unwrap();
        assert!(meter.max() <= 3, "max {}", meter.max());
        assert_eq!(meter.now(), 0);
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.waiting, stats.nested),
            (0, 0, 0),
            "{stats:?}"
        );
        assert_eq!(stats.rejected_total(), 0, "{stats:?}");
        // 480 calls, and a nested call in each of the 384 not under a permit.
        assert_eq!(stats.completed, 480 + 384, "{stats:?}");
        assert_accounted(&stats);
    });
}

/// Spawn's immediate rejections are counted once (as rejected, never also
/// as cancelled); an abort after the end yields the outcome; a panic is
/// re-raised through the handle and counted; and `drained` resolves once
/// the runtime that ran the spawned calls is gone.
#[test]
fn spawn_rejections_late_aborts_panics_and_drained_after_the_runtime_is_gone() {
    quiet_planned_panics();
    within(LIMIT, || {
        let rt = common::runtime();
        let pool = Pool::builder().size(1).max_waiting(1).build().unwrap();
        rt.block_on(async {
            let permit = pool.acquire().await.unwrap();
            let queued = pool.spawn(async { 1 }).unwrap();
            assert_eq!(pool.spawn(async { 2 }).err(), Some(Rejected::Full));
            pool.pause();
            assert_eq!(pool.spawn(async { 3 }).err(), Some(Rejected::Paused));
            pool.resume();
            drop(permit);
            assert_eq!(queued.await, Ok(1));
            let s = pool.stats();
            assert_eq!(
                (
                    s.rejected_for(Rejected::Full),
                    s.rejected_for(Rejected::Paused),
                    s.cancelled
                ),
                (1, 1, 0),
                "{s:?}"
            );
            assert_accounted(&s);

            // Aborted after it finished: the outcome stands.
            let done = pool.spawn(async { 7 }).unwrap();
            while !done.is_finished() {
                tokio::task::yield_now().await;
            }
            done.abort();
            assert_eq!(done.await, Ok(7));

            // A panic goes through the handle and is counted.
            let boom = pool.spawn(async { panic!("planned: spawned") }).unwrap();
            let caught = tokio::spawn(boom).await;
            assert!(caught.unwrap_err().is_panic());
            assert_eq!(pool.stats().panicked, 1);
        });
        // Spawned calls waiting (and one running) when the runtime goes.
        let rt2 = common::runtime();
        rt2.block_on(async {
            pool.set_max_waiting(None).unwrap();
            for _ in 0..6 {
                drop(pool.spawn(std::future::pending::<()>()).unwrap());
            }
            while pool.stats().running < 1 {
                tokio::task::yield_now().await;
            }
        });
        pool.close();
        drop(rt2);
        drop(rt);
        futures::executor::block_on(pool.drained());
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(s.cancelled, 6, "{s:?}");
        assert_accounted(&s);
    });
}

/// An autoscaler's scale-up on intake admits the queued calls in order
/// (smallest weights first), never the newcomer whose arrival triggered it
/// ahead of them.
#[test]
fn autoscale_up_on_intake_admits_in_priority_order_not_the_newcomer() {
    use pool_runtime::{Kind, ManualClock};
    for order in [Order::Priority, Order::Fifo, Order::Lifo] {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .order(order)
            .kind(Kind::Autoscale)
            .min(1)
            .max(4)
            .clock(clock.clone())
            .build()
            .unwrap();
        pool.resize(1);
        let admitted = RefCell::new(Vec::new());
        let adm = &admitted;
        let (held, open) = gate();
        let mut holder = Task::new(pool.submit(held));
        holder.assert_pending();
        let weights = [4, -7, i64::MAX, 0, -7, i64::MIN, 3, 0];
        let (g, o) = gate();
        let g = &g;
        let mut calls: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let mut t = Task::new(pool.submit_weighted(w, async move {
                    adm.borrow_mut().push(i);
                    common::Gate(g.0.clone()).await
                }));
                t.assert_pending();
                Some(t)
            })
            .collect();
        let expected: Vec<usize> = match order {
            Order::Priority => expected_priority(&weights, &[]),
            Order::Lifo => (0..weights.len()).rev().collect(),
            _ => (0..weights.len()).collect(),
        };
        let mut grown = false;
        for _ in 0..10 {
            clock.advance(Duration::from_secs(11));
            // A newcomer with the worst weight, arriving last.
            let mut newcomer = Task::new(pool.submit_weighted(i64::MAX, async {
                adm.borrow_mut().push(100);
            }));
            let _ = newcomer.poll();
            settle(&mut calls);
            if pool.size() > 1 {
                grown = true;
                let got = admitted.borrow().clone();
                let k = got.len();
                assert!(
                    k >= 1,
                    "{order:?}: grew to {} but admitted nothing",
                    pool.size()
                );
                if order != Order::Lifo {
                    let mut got_sorted = got.clone();
                    got_sorted.sort();
                    let mut want = expected[..k.min(expected.len())].to_vec();
                    want.sort();
                    assert_eq!(got_sorted, want, "{order:?}: admitted {got:?}");
                } else {
                    // No barging, even in LIFO order: the queued calls the
                    // growth admits go before the call that triggered it.
                    assert!(!got.contains(&100), "{order:?}: {got:?}");
                }
                break;
            }
            drop(newcomer);
        }
        assert!(grown, "{order:?}: the autoscaler never grew the pool");
        open.store(true, SeqCst);
        o.store(true, SeqCst);
        let _ = holder.poll();
        settle(&mut calls);
    }
}

// ---- fleet: two clients of one process, sync and async callers ------------

/// Two groups of one process with one name are two clients of one fleet
/// limit of 2: sync callers on OS threads (some of whose bodies panic) and
/// async callers on both, counted from outside, never more than 2 at once;
/// every lease is given back and no key is left.
#[cfg(feature = "redis")]
#[test]
fn sync_and_async_callers_of_two_clients_share_the_fleet_limit() {
    use pool_runtime::fleet::OnUnreachable;
    use redis_server::*;
    quiet_planned_panics();
    let server = RedisServer::start();
    let a = fleet_group("r11_mix", &server, 2, OnUnreachable::Wait);
    let b = group_with("r11_mix", |s| {
        s.size(8)
            .order(Order::Priority)
            .fleet_limit(2)
            .fleet_url(leak(server.url()))
            .fleet_lease(Duration::from_millis(1000))
    });
    let meter = Meter::default();
    let out = within(Duration::from_secs(40), {
        let meter = meter.clone();
        move || {
            let rt = common::runtime();
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let g = if i % 2 == 0 { a } else { b };
                    let m = meter.clone();
                    rt.spawn(async move {
                        for _ in 0..4 {
                            let m = m.clone();
                            g.submit(i, async move {
                                let _in = m.enter();
                                tokio::task::yield_now().await;
                            })
                            .await
                            .unwrap();
                        }
                    })
                })
                .collect();
            let threads: Vec<_> = (0..6)
                .map(|t| {
                    let m = meter.clone();
                    std::thread::spawn(move || {
                        let mut panics = 0;
                        for i in 0..5 {
                            let g = if (t + i) % 2 == 0 { a } else { b };
                            let m = m.clone();
                            let r =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                                    g.run_weighted(-(t as i64), || {
                                        let _in = m.enter();
                                        std::thread::yield_now();
                                        if (t + i) % 7 == 3 {
                                            panic!("planned: fleet sync body");
                                        }
                                    })
                                }));
                            match r {
                                Ok(r) => r.unwrap(),
                                Err(_) => panics += 1,
                            }
                        }
                        panics
                    })
                })
                .collect();
            let panics: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
            rt.block_on(async {
                for t in tasks {
                    t.await.unwrap();
                }
            });
            panics
        }
    });
    assert!(meter.max() <= 2, "max {}", meter.max());
    assert_eq!(meter.now(), 0);
    let (mut acquired, mut panicked) = (0, 0);
    for g in [a, b] {
        let s = g.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
        panicked += s.panicked;
        let fs = g.fleet_stats().unwrap();
        assert_eq!((fs.held, fs.waiting), (0, 0), "{fs:?}");
        assert_eq!(fs.acquired, fs.released, "{fs:?}");
        acquired += fs.acquired;
    }
    assert_eq!(panicked, out);
    assert_eq!(acquired, 8 * 4 + 6 * 5);
    assert_no_fleet_keys(&server, "r11_mix");
}

/// A sync call that must wait on the thread driving a current-thread
/// runtime panics (documented); the panic leaves the queue and the
/// accounting exact, and the thread clean: the same call off the runtime
/// waits and runs.
#[test]
fn the_current_thread_refusal_leaves_the_queue_and_the_thread_clean() {
    quiet_planned_panics();
    within(LIMIT, || {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let permit = pool.try_acquire_owned(0).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async { pool.run(|| 1) })
        }));
        assert!(refused.is_err());
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (1, 0), "{s:?}");
        assert_accounted(&s);
        // Off the runtime, on the same thread: parks, then runs once the
        // permit is dropped; an abort meanwhile would say Closed, not
        // TimedOut.
        let holder = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                while pool.stats().waiting == 0 {
                    std::thread::yield_now();
                }
                drop(permit);
            })
        };
        assert_eq!(pool.run(|| 2), Ok(2));
        holder.join().unwrap();
        let permit = pool.try_acquire_owned(0).unwrap();
        let aborter = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                while pool.stats().waiting == 0 {
                    std::thread::yield_now();
                }
                pool.abort();
            })
        };
        assert_eq!(pool.run(|| 3), Err(Rejected::Closed));
        aborter.join().unwrap();
        drop(permit);
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(s.rejected_for(Rejected::TimedOut), 0);
        assert_accounted(&s);
    });
}

/// Reentrancy through the other call paths of one task: inside work that
/// holds the only slot, an awaited blocking call, an awaited permit and an
/// awaited submit do not deadlock; a spawned call is independent and runs
/// only after the work (never two bodies at once).
#[test]
// The work hands its spawned call's handle out, to await it after the work.
#[allow(clippy::async_yields_async)]
fn nested_blocking_permit_and_spawn_inside_the_only_slot() {
    within(LIMIT, || {
        let rt = common::runtime();
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        rt.block_on(async {
            let (p, m) = (pool.clone(), meter.clone());
            let child = pool
                .submit(async move {
                    let _in = m.enter();
                    assert_eq!(p.submit_blocking(|| 1).await, Ok(1));
                    {
                        let _permit = p.acquire().await.unwrap();
                    }
                    assert_eq!(p.submit(async { 2 }).await, Ok(2));
                    let m2 = m.clone();
                    let child = p
                        .spawn(async move {
                            let _in = m2.enter();
                        })
                        .unwrap();
                    for _ in 0..10 {
                        tokio::task::yield_now().await;
                    }
                    assert!(!child.is_finished(), "the spawned call took a second slot");
                    child
                })
                .await
                .unwrap();
            assert_eq!(child.await, Ok(()));
        });
        assert_eq!(meter.max(), 1);
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// A waiter handed the slot and dropped before it polls passes the slot on
/// to the next in order (LIFO and priority), and repeatedly so.
#[test]
fn handed_slots_dropped_unpolled_pass_on_in_order() {
    for (order, weights) in [
        (Order::Lifo, vec![0; 8]),
        (
            Order::Priority,
            vec![2, i64::MIN, 2, i64::MAX, -1, 0, -1, 5],
        ),
    ] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let ran = RefCell::new(Vec::new());
        let r = &ran;
        let (held, open) = gate();
        let mut holder = Task::new(pool.submit(held));
        holder.assert_pending();
        let mut calls: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let mut t =
                    Task::new(pool.submit_weighted(w, async move { r.borrow_mut().push(i) }));
                t.assert_pending();
                Some(t)
            })
            .collect();
        let expected: Vec<usize> = match order {
            Order::Lifo => (0..weights.len()).rev().collect(),
            _ => expected_priority(&weights, &[]),
        };
        open.store(true, SeqCst);
        assert_eq!(holder.assert_ready(), Ok(()));
        // The first two to be handed the slot are dropped unpolled, in turn.
        for &i in &expected[..2] {
            assert!(
                calls[i].as_ref().unwrap().is_woken(),
                "{order:?}: {i} not handed the slot"
            );
            calls[i] = None;
        }
        settle(&mut calls);
        drop(calls);
        assert_eq!(ran.take(), expected[2..].to_vec(), "{order:?}");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.cancelled), (0, 0, 2), "{s:?}");
        assert_accounted(&s);
    }
}

/// Sync callers whose admission timeout races the hand-off of a slot:
/// every call either ran or was counted timed out (never both, never
/// neither), the limit held, and no slot was lost on the way.
#[test]
fn sync_timeouts_racing_hand_offs_lose_nothing() {
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .admission_timeout(Duration::from_micros(200))
            .build()
            .unwrap();
        let meter = Meter::default();
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let (pool, meter) = (pool.clone(), meter.clone());
                std::thread::spawn(move || {
                    let (mut ran, mut timed_out) = (0u64, 0u64);
                    for i in 0..150 {
                        match pool.run_weighted((t + i) % 3, || {
                            let _in = meter.enter();
                            std::thread::yield_now();
                        }) {
                            Ok(()) => ran += 1,
                            Err(Rejected::TimedOut) => timed_out += 1,
                            Err(other) => panic!("{other:?}"),
                        }
                    }
                    (ran, timed_out)
                })
            })
            .collect();
        let (mut ran, mut timed_out) = (0, 0);
        for t in threads {
            let (r, o) = t.join().unwrap();
            ran += r;
            timed_out += o;
        }
        assert!(meter.max() <= 1, "max {}", meter.max());
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(s.completed, ran, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::TimedOut), timed_out, "{s:?}");
        assert_eq!(ran + timed_out, 16 * 150);
        assert_accounted(&s);
        // No slot lost: the pool still admits at once.
        assert!(pool.try_acquire().is_ok());
    });
}
