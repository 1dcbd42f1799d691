//! Acceptance round 44: the seed's six task pools (`seed-task-pool.md`),
//! operation by operation as DESIGN.md §2 maps them here — submit, weighted
//! submit, the non-blocking `spawn`, blocking work on tokio's and on a
//! plugged executor, sync callers, `scale(n)` with negative and extreme
//! `n`, pause/resume, stats, close, drain, abort, shutdown, the scoped
//! form — checked against §3 (hand-off and "only that one waiter is woken",
//! cancellation, scaling changes the limit only, reentrancy) and §6
//! (accounting), on all six pools, from the written promises only (DESIGN
//! §2/§3/§6, the README's rules section, the rustdoc of `Pool`,
//! `PoolBuilder`, `GroupSettings`, `Stats`, `Rejected`, `ShutdownTimedOut`,
//! `SpawnHandle`).
//!
//! The centre of the round is a model test per pool: a reference model of
//! the documented admission rules (order, hand-off, clamping, pause, close,
//! abort, a live waiting bound, `try_acquire` permits, admission timeouts
//! on tokio's paused time, cancellation in every state, panicking bodies)
//! driven by a seeded random schedule of hand-polled calls and compared
//! after every step with `stats()` (every field), with which calls the
//! pool woke (and did not wake), and with a meter around each body; a
//! variant runs priority queues of hundreds of distinct weights (past the
//! 64 lists the README names). The rest: hostile races on real threads and
//! runtimes (resizes, `set_bounds` against an evaluating autoscaler,
//! pauses, a close and an abort against waiting calls; timeouts cancelling
//! calls at random awaits; an admission timeout racing a hand-off 300
//! times per pool; a chaos mix of all of them with panicking bodies and
//! sync barging, compared reason by reason with the callers' own counts),
//! zero and huge values (size 0 and `usize::MAX`, `isize::MIN`/`MAX`
//! deltas, `i64::MIN`/`MAX` weights, `Duration::ZERO`/`MAX` timeouts,
//! shutdowns and barging bounds), nested calls against a scale to 0, a
//! cancelled and a panicking sibling, threads that keep no slot from ended
//! calls, control operations called from inside work, a blocking waker on
//! the timer thread, and the seed's own examples. Concurrency is counted
//! from outside the library (a meter around each body); every wait is
//! bounded (`within`, a watchdog, `tokio::time::timeout`) so a hang fails
//! instead of freezing the suite. `ROUND44_TRACE=1` prints what the model
//! runs and what the hand-off race reached.
//!
//! Broken promises found: none (41 tests, all pass). Each was checked able
//! to fail: the model by mutating its order and counting rules, the
//! `set_bounds` race by removing its wait, the races by printing that both
//! outcomes occur.
//!
//! Observed, not promised either way (so not tests):
//! * `Stats` counts a call's outcome just before its slot is freed, so a
//!   snapshot taken on another thread as a call leaves can show it both
//!   completed (or cancelled) and running: seen once as 10 calls counted 9
//!   completed + 1 cancelled with `in_flight() == 1`. `Stats` allows it
//!   ("not mutually consistent" while calls come and go); the README's "a
//!   call's end is reported (its span closed, its outcome counted) once its
//!   slot is released" is about the tracing/metrics report, though it reads
//!   as if it covered `Stats` too.
//! * Polling a `Submit` again after it returned its output yields
//!   `Err(Rejected::Closed)` on an open pool (counted nowhere).

mod common;

use common::{assert_accounted, within, Meter, Task};
use pool_runtime::{
    BlockingExecutor, BlockingJob, BuildError, Kind, Order, Pool, Rejected, MAX_SLOTS,
};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

const SIX: [(Kind, Order); 6] = [
    (Kind::Fixed, Order::Fifo),
    (Kind::Fixed, Order::Lifo),
    (Kind::Fixed, Order::Priority),
    (Kind::Autoscale, Order::Fifo),
    (Kind::Autoscale, Order::Lifo),
    (Kind::Autoscale, Order::Priority),
];

/// A pool of `kind` and `order` starting at `size` slots. Autoscaled ones
/// get bounds `[0, 8]` (so `scale` can reach 0, as a fixed pool's can) and
/// an autoscale interval that never passes, so that only the test moves
/// their limit.
fn pool_of(kind: Kind, order: Order, size: usize) -> Pool {
    let b = Pool::builder().kind(kind).order(order).size(size);
    let b = if kind == Kind::Autoscale {
        b.min(0).max(8).autoscale_interval(Duration::MAX)
    } else {
        b
    };
    b.build().unwrap()
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------- the model

/// What a hand-polled body does when polled: 0 hold, 1 finish, 2 panic.
struct Ctrl(Arc<AtomicU8>);
impl Future for Ctrl {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        match self.0.load(Ordering::SeqCst) {
            0 => Poll::Pending,
            1 => Poll::Ready(()),
            _ => panic!("planned: a body that panics"),
        }
    }
}

type Body = Pin<Box<dyn Future<Output = usize>>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Built, never polled: unknown to the pool.
    Unpolled,
    /// In the queue (joined at this sequence number).
    Waiting(u64),
    /// Handed a slot, not yet polled since.
    Admitted,
    /// Its body is running (entered, holding).
    Entered,
    /// Its body panicked; the future is kept, so it still holds its slot.
    Panicked,
    /// Turned away by an abort, not yet polled.
    Aborted,
    /// Finished (its output taken) or turned away and polled.
    Over,
}

struct Call<'p> {
    task: Option<Task<pool_runtime::Submit<'p, Body>>>,
    weight: i64,
    /// When its admission timeout passes (virtual ms), if it waits.
    deadline: Option<u64>,
    ctrl: Arc<AtomicU8>,
    st: St,
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Counts {
    submitted: u64,
    completed: u64,
    panicked: u64,
    cancelled: u64,
    paused: u64,
    closed: u64,
    full: u64,
    timed_out: u64,
}

struct Model {
    order: Order,
    bounds: (usize, usize),
    limit: usize,
    max_limit_at_admission: usize,
    seq: u64,
    paused: bool,
    closed: bool,
    max_waiting: Option<usize>,
    /// Permits held (`try_acquire`), each a slot.
    permits: usize,
    /// tokio's paused clock, in ms since the start, and the admission
    /// timeout calls that start waiting now get.
    now_ms: u64,
    timeout_ms: Option<u64>,
    counts: Counts,
}

impl Model {
    /// Slots held: by calls, and by permits (`try_acquire`).
    fn holders(&self, calls: &[Call<'_>]) -> usize {
        self.permits
            + calls
                .iter()
                .filter(|c| matches!(c.st, St::Admitted | St::Entered | St::Panicked))
                .count()
    }

    /// The waiter the order admits next.
    fn next_waiter(&self, calls: &[Call<'_>]) -> Option<usize> {
        let waiting = calls.iter().enumerate().filter_map(|(i, c)| match c.st {
            St::Waiting(s) => Some((i, c.weight, s)),
            _ => None,
        });
        match self.order {
            Order::Fifo => waiting.min_by_key(|&(_, _, s)| s),
            Order::Lifo => waiting.max_by_key(|&(_, _, s)| s),
            _ => waiting.min_by_key(|&(_, w, s)| (w, s)),
        }
        .map(|(i, _, _)| i)
    }

    /// Hands free slots to waiters, in order, while running < limit.
    fn admit(&mut self, calls: &mut [Call<'_>]) {
        while self.holders(calls) < self.limit {
            let Some(i) = self.next_waiter(calls) else {
                break;
            };
            calls[i].st = St::Admitted;
            self.max_limit_at_admission = self.max_limit_at_admission.max(self.limit);
        }
    }
}

fn check(step: usize, what: &str, pool: &Pool, model: &Model, calls: &[Call<'_>], meter: &Meter) {
    let s = pool.stats();
    let waiting = calls
        .iter()
        .filter(|c| matches!(c.st, St::Waiting(_)))
        .count();
    let entered = calls.iter().filter(|c| c.st == St::Entered).count();
    let ctx = format!("step {step} ({what}): {s:?}");
    assert_eq!(s.size, model.limit, "size, {ctx}");
    assert_eq!(pool.size(), model.limit, "size(), {ctx}");
    assert_eq!(s.running, model.holders(calls), "running, {ctx}");
    assert_eq!(s.waiting, waiting, "waiting, {ctx}");
    assert_eq!(s.nested, 0, "nested, {ctx}");
    assert_eq!(s.paused, model.paused, "paused, {ctx}");
    assert_eq!(pool.is_paused(), model.paused, "is_paused, {ctx}");
    assert_eq!(s.closed, model.closed, "closed, {ctx}");
    let c = &model.counts;
    assert_eq!(s.submitted(), c.submitted, "submitted, {ctx}");
    assert_eq!(s.completed, c.completed, "completed, {ctx}");
    assert_eq!(s.panicked, c.panicked, "panicked, {ctx}");
    assert_eq!(s.cancelled, c.cancelled, "cancelled, {ctx}");
    assert_eq!(
        s.rejected_for(Rejected::Paused),
        c.paused,
        "rejected paused, {ctx}"
    );
    assert_eq!(
        s.rejected_for(Rejected::Closed),
        c.closed,
        "rejected closed, {ctx}"
    );
    assert_eq!(
        s.rejected_for(Rejected::Full),
        c.full,
        "rejected full, {ctx}"
    );
    assert_eq!(
        s.rejected_for(Rejected::TimedOut),
        c.timed_out,
        "rejected timed out, {ctx}"
    );
    assert_eq!(
        s.rejected_total(),
        c.paused + c.closed + c.full + c.timed_out,
        "rejected, {ctx}"
    );
    assert_accounted(&s);
    assert_eq!(meter.now(), entered, "bodies inside (outside count), {ctx}");
    assert!(
        meter.max() <= model.max_limit_at_admission.max(1),
        "more bodies at once ({}) than any limit a call was admitted under ({}), {ctx}",
        meter.max(),
        model.max_limit_at_admission
    );
}

/// Polls call `i` once and moves the model as the docs say that poll goes.
fn poll_call(i: usize, model: &mut Model, calls: &mut [Call<'_>], step: usize) {
    let st = calls[i].st;
    let ctrl = calls[i].ctrl.load(Ordering::SeqCst);
    match st {
        St::Unpolled => {
            model.counts.submitted += 1;
            let out = calls[i].task.as_mut().unwrap().poll();
            let must_wait =
                model.next_waiter(calls).is_some() || model.holders(calls) >= model.limit;
            let past_bound = must_wait
                && model.max_waiting.is_some_and(|bound| {
                    calls
                        .iter()
                        .filter(|c| matches!(c.st, St::Waiting(_)))
                        .count()
                        >= bound
                });
            if model.closed || model.paused {
                // Several reasons at once: each is a fair reading (the docs
                // give no precedence); count the one given.
                let mut expect = Vec::new();
                if model.closed {
                    expect.push(Rejected::Closed);
                }
                if model.paused {
                    expect.push(Rejected::Paused);
                }
                if past_bound {
                    expect.push(Rejected::Full);
                }
                match out {
                    Poll::Ready(Err(r)) if expect.contains(&r) => match r {
                        Rejected::Closed => model.counts.closed += 1,
                        Rejected::Paused => model.counts.paused += 1,
                        _ => model.counts.full += 1,
                    },
                    other => {
                        panic!("step {step}: a new call on a paused/closed pool gave {other:?}")
                    }
                }
                calls[i].st = St::Over;
            } else if model.next_waiter(calls).is_none() && model.holders(calls) < model.limit {
                assert!(
                    out.is_pending(),
                    "step {step}: an admitted holding body ended"
                );
                calls[i].st = St::Entered;
                model.max_limit_at_admission = model.max_limit_at_admission.max(model.limit);
            } else if past_bound {
                assert_eq!(
                    out,
                    Poll::Ready(Err(Rejected::Full)),
                    "step {step}: past the waiting bound"
                );
                model.counts.full += 1;
                calls[i].st = St::Over;
            } else {
                assert!(
                    out.is_pending(),
                    "step {step}: a call that must wait did not"
                );
                model.seq += 1;
                calls[i].st = St::Waiting(model.seq);
                calls[i].deadline = model.timeout_ms.map(|t| model.now_ms + t);
            }
        }
        St::Waiting(_) => {
            assert!(
                calls[i].task.as_mut().unwrap().poll().is_pending(),
                "step {step}: a waiting call (by the model) was admitted"
            );
        }
        St::Admitted => {
            assert!(
                calls[i].task.as_mut().unwrap().poll().is_pending(),
                "step {step}: a holding body ended"
            );
            calls[i].st = St::Entered;
        }
        St::Entered if ctrl == 0 => {
            assert!(calls[i].task.as_mut().unwrap().poll().is_pending());
        }
        St::Entered if ctrl == 1 => {
            match calls[i].task.as_mut().unwrap().poll() {
                Poll::Ready(Ok(id)) => assert_eq!(id, i, "step {step}: another call's output"),
                other => panic!("step {step}: a finished body gave {other:?}"),
            }
            model.counts.completed += 1;
            calls[i].st = St::Over;
            model.admit(calls);
        }
        St::Entered => {
            let task = calls[i].task.as_mut().unwrap();
            let out = catch_unwind(AssertUnwindSafe(|| task.poll()));
            assert!(
                out.is_err(),
                "step {step}: the panic did not reach the caller"
            );
            calls[i].st = St::Panicked;
        }
        St::Aborted => {
            assert_eq!(
                calls[i].task.as_mut().unwrap().poll(),
                Poll::Ready(Err(Rejected::Closed)),
                "step {step}: an aborted waiter"
            );
            calls[i].st = St::Over;
        }
        St::Panicked | St::Over => {}
    }
}

/// Drops call `i`'s future and moves the model as the docs say.
fn drop_call(i: usize, model: &mut Model, calls: &mut [Call<'_>]) {
    let st = calls[i].st;
    drop(calls[i].task.take());
    match st {
        St::Waiting(_) | St::Admitted | St::Entered => model.counts.cancelled += 1,
        St::Panicked => {
            model.counts.completed += 1;
            model.counts.panicked += 1;
        }
        // An aborted call dropped unpolled was already counted rejected.
        St::Unpolled | St::Aborted | St::Over => {}
    }
    calls[i].st = St::Over;
    model.admit(calls);
}

/// `calm`: no pauses, waiting bounds or admission timeouts, fewer finishes
/// (long queues).
fn run_model(kind: Kind, order: Order, seed: u64, steps: usize, weights: &[i64], calm: bool) {
    common::quiet_planned_panics();
    // tokio's paused time, so that admission timeouts are steps too.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let _guard = rt.enter();
    let b = Pool::builder().kind(kind).order(order).size(2);
    let b = if kind == Kind::Autoscale {
        b.min(0).max(8).autoscale_interval(Duration::MAX)
    } else {
        b
    };
    #[cfg(feature = "tokio")]
    let b = b.clock(pool_runtime::TokioClock::new());
    let pool = b.build().unwrap();
    let bounds = pool.bounds();
    let meter = Meter::default();
    let which = SIX.iter().position(|&p| p == (kind, order)).unwrap() as u64;
    let mut rng = Rng((seed * 8 + which).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut model = Model {
        order,
        bounds,
        limit: 2,
        max_limit_at_admission: 0,
        seq: 0,
        paused: false,
        closed: false,
        max_waiting: None,
        permits: 0,
        now_ms: 0,
        timeout_ms: None,
        counts: Counts::default(),
    };
    let mut calls: Vec<Call<'_>> = Vec::new();
    let mut permits: Vec<pool_runtime::Permit<'_>> = Vec::new();
    let mut longest = 0;
    for step in 0..steps {
        let op = rng.below(106);
        // Waiters not woken before this step: a release ("finish", "drop")
        // may wake only the waiter it hands the slot to (README: "only that
        // one waiter is woken").
        let unwoken: Vec<usize> = (0..calls.len())
            .filter(|&i| {
                matches!(calls[i].st, St::Waiting(_)) && !calls[i].task.as_ref().unwrap().is_woken()
            })
            .collect();
        let what;
        match op {
            // a new call, polled at once or later
            0..=24 => {
                let ctrl = Arc::new(AtomicU8::new(0));
                let weight = weights[rng.below(weights.len())];
                let (m, c, id) = (meter.clone(), ctrl.clone(), calls.len());
                let body: Body = Box::pin(async move {
                    let _inside = m.enter();
                    Ctrl(c).await;
                    id
                });
                calls.push(Call {
                    task: Some(Task::new(pool.submit_weighted(weight, body))),
                    weight,
                    deadline: None,
                    ctrl,
                    st: St::Unpolled,
                });
                let i = calls.len() - 1;
                if rng.below(4) != 0 {
                    poll_call(i, &mut model, &mut calls, step);
                }
                what = "new call";
            }
            // poll some live call (a spurious poll for waiting ones)
            25..=39 if !calls.is_empty() => {
                let i = rng.below(calls.len());
                poll_call(i, &mut model, &mut calls, step);
                what = "poll";
            }
            // drive: poll every call the pool handed a slot (it must have
            // woken each of them) or turned away
            40..=54 => {
                for i in 0..calls.len() {
                    if matches!(calls[i].st, St::Admitted | St::Aborted) {
                        assert!(
                            calls[i].task.as_ref().unwrap().is_woken(),
                            "step {step}: call {i} ({:?}) was not woken",
                            calls[i].st
                        );
                        poll_call(i, &mut model, &mut calls, step);
                    }
                }
                what = "drive";
            }
            // a running body finishes, or panics
            55..=69 if !calm || rng.below(4) == 0 => {
                let running: Vec<usize> = (0..calls.len())
                    .filter(|&i| calls[i].st == St::Entered)
                    .collect();
                if running.is_empty() {
                    continue;
                }
                let i = running[rng.below(running.len())];
                let panics = rng.below(5) == 0;
                calls[i]
                    .ctrl
                    .store(if panics { 2 } else { 1 }, Ordering::SeqCst);
                poll_call(i, &mut model, &mut calls, step);
                what = if panics { "panic" } else { "finish" };
            }
            // drop a call's future, whatever its state
            70..=79 if !calls.is_empty() => {
                let i = rng.below(calls.len());
                drop_call(i, &mut model, &mut calls);
                what = "drop";
            }
            // scale by -3..=3, or to an extreme
            80..=87 => {
                let delta: isize = match rng.below(10) {
                    0 => isize::MIN,
                    1 => isize::MAX,
                    n => n as isize - 5,
                };
                let delta = if delta == isize::MAX && kind == Kind::Fixed {
                    // MAX_SLOTS slots would make the meter bound meaningless;
                    // a fixed pool's top clamp is checked elsewhere.
                    3
                } else {
                    delta
                };
                let want = model
                    .limit
                    .saturating_add_signed(delta)
                    .clamp(model.bounds.0, model.bounds.1);
                assert_eq!(pool.scale(delta), want, "step {step}: scale({delta})");
                model.limit = want;
                model.admit(&mut calls);
                what = "scale";
            }
            // paused about a third of the time
            88..=91 if !calm && (model.paused || rng.below(2) == 0) => {
                if model.paused {
                    pool.resume();
                } else {
                    pool.pause();
                }
                model.paused = !model.paused;
                what = "pause/resume";
            }
            // tokio's paused time moves on (even ms; timeouts are odd ms, so
            // no deadline ever falls on a step): every call still waiting
            // past its deadline is woken and turned away `TimedOut`; a call
            // handed a slot meanwhile is not.
            97..=98 if cfg!(feature = "tokio") => {
                let ms = [2, 4, 6, 10, 20][rng.below(5)];
                rt.block_on(tokio::time::advance(Duration::from_millis(ms)));
                model.now_ms += ms;
                for (i, call) in calls.iter_mut().enumerate() {
                    let expired = matches!(call.st, St::Waiting(_))
                        && call.deadline.is_some_and(|d| d <= model.now_ms);
                    if expired {
                        let task = call.task.as_mut().unwrap();
                        assert!(task.is_woken(), "step {step}: timed-out call {i} not woken");
                        assert_eq!(
                            task.poll(),
                            Poll::Ready(Err(Rejected::TimedOut)),
                            "step {step}: call {i} past its deadline"
                        );
                        model.counts.timed_out += 1;
                        call.st = St::Over;
                    }
                }
                what = "advance";
            }
            99 if cfg!(feature = "tokio") && !calm => {
                let t = [None, Some(5), Some(15), Some(31)][rng.below(4)];
                pool.set_admission_timeout(t.map(Duration::from_millis));
                model.timeout_ms = t;
                what = "set_admission_timeout";
            }
            // `try_acquire`: "A permit if a slot is free now; never waits…
            // `Full` if no slot is free (as if no call could wait), otherwise
            // as `submit` (paused, closed)"; never a slot a queued call is
            // owed.
            100..=102 => {
                model.counts.submitted += 1;
                let free =
                    model.next_waiter(&calls).is_none() && model.holders(&calls) < model.limit;
                let mut expect = Vec::new();
                if model.closed {
                    expect.push(Rejected::Closed);
                }
                if model.paused {
                    expect.push(Rejected::Paused);
                }
                if !free {
                    expect.push(Rejected::Full);
                }
                match pool.try_acquire() {
                    Ok(permit) => {
                        assert!(
                            expect.is_empty(),
                            "step {step}: a permit, expected {expect:?}"
                        );
                        permits.push(permit);
                        model.permits += 1;
                        model.max_limit_at_admission =
                            model.max_limit_at_admission.max(model.limit);
                    }
                    Err(r) => {
                        assert!(
                            expect.contains(&r),
                            "step {step}: {r:?}, expected {expect:?}"
                        );
                        match r {
                            Rejected::Closed => model.counts.closed += 1,
                            Rejected::Paused => model.counts.paused += 1,
                            _ => model.counts.full += 1,
                        }
                    }
                }
                what = "try_acquire";
            }
            // A permit dropped: one completed call, its slot handed on.
            103..=105 if !permits.is_empty() => {
                let i = rng.below(permits.len());
                drop(permits.swap_remove(i));
                model.permits -= 1;
                model.counts.completed += 1;
                model.admit(&mut calls);
                what = "drop";
            }
            // Closing ends a run's interesting part: only in its last quarter.
            92..=93 if !model.closed && step >= steps * 3 / 4 => {
                pool.close();
                model.closed = true;
                what = "close";
            }
            95..=96 if !calm => {
                let bound = [None, None, Some(0), Some(1), Some(3), Some(8)][rng.below(6)];
                pool.set_max_waiting(bound).unwrap();
                model.max_waiting = bound;
                what = "set_max_waiting";
            }
            94 if step >= steps * 3 / 4 => {
                pool.abort();
                model.closed = true;
                for c in calls.iter_mut() {
                    if matches!(c.st, St::Waiting(_)) {
                        c.st = St::Aborted;
                        model.counts.closed += 1;
                    }
                }
                what = "abort";
            }
            _ => continue,
        }
        check(step, what, &pool, &model, &calls, &meter);
        longest = longest.max(pool.stats().waiting);
        if matches!(what, "finish" | "drop") {
            for &i in &unwoken {
                if matches!(calls[i].st, St::Waiting(_)) {
                    assert!(
                        !calls[i].task.as_ref().unwrap().is_woken(),
                        "step {step} ({what}): waiter {i}, not handed the slot, was woken"
                    );
                }
            }
        }
    }
    // Everything left is dropped: the pool ends empty and accounted.
    model.counts.completed += permits.len() as u64;
    model.permits = 0;
    drop(permits);
    model.admit(&mut calls);
    for i in 0..calls.len() {
        if calls[i].st == St::Aborted {
            poll_call(i, &mut model, &mut calls, steps);
        }
        drop_call(i, &mut model, &mut calls);
    }
    check(steps, "drop all", &pool, &model, &calls, &meter);
    if std::env::var_os("ROUND44_TRACE").is_some() {
        eprintln!(
            "{kind:?}/{order:?} seed {seed}: {:?}, longest queue {longest}",
            model.counts
        );
    }
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, meter.now()), (0, 0, 0), "{s:?}");
}

fn run_seeds(kind: Kind, order: Order) {
    for seed in 1..=40 {
        run_model(
            kind,
            order,
            seed,
            400,
            &[i64::MIN, -1, 0, 0, 1, 7, i64::MAX],
            false,
        );
    }
}

/// DESIGN §2/§3 on `AioFixedTaskPoolSimple`'s counterpart: FIFO admission,
/// hand-off, clamped `scale`, pause, close, abort, a live waiting bound
/// (`Full`; calls already waiting keep their place), `try_acquire` permits
/// (never a slot a queued call is owed), live admission timeouts on
/// tokio's paused time (`TimedOut` past the deadline, never for
/// a call handed a slot), cancellation and panics, against a model, step by
/// step.
#[test]
fn model_fixed_fifo_pool_follows_the_documented_rules_step_by_step() {
    run_seeds(Kind::Fixed, Order::Fifo);
}

/// As above, `AioFixedTaskPoolLifo`: the newest waiter first.
#[test]
fn model_fixed_lifo_pool_follows_the_documented_rules_step_by_step() {
    run_seeds(Kind::Fixed, Order::Lifo);
}

/// As above, `AioFixedTaskPoolPriority`: smaller weight first (extremes
/// included), ties first-come first-served.
#[test]
fn model_fixed_priority_pool_follows_the_documented_rules_step_by_step() {
    run_seeds(Kind::Fixed, Order::Priority);
}

/// As above, on priority pools whose calls carry hundreds of distinct
/// weights (README: "the priority queue keeps one FIFO list per distinct
/// weight… past 64 distinct weights waiting at once, their lists' map
/// allocates"): the order holds past that point, with cancellations and
/// aborts emptying lists in the middle. Mostly new calls, so that queues
/// grow long.
#[test]
fn model_priority_pools_with_hundreds_of_distinct_weights() {
    let mut weights: Vec<i64> = (0..300).map(|i| (i * 7919 % 601) - 300).collect();
    weights.extend([i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]);
    for kind in [Kind::Fixed, Kind::Autoscale] {
        for seed in 100..110 {
            run_model(kind, Order::Priority, seed, 1500, &weights, true);
        }
    }
}

/// As above, `AioAutoScaleTaskPoolSimple`, `scale` clamped to `[min, max]`.
#[test]
fn model_autoscaled_fifo_pool_follows_the_documented_rules_step_by_step() {
    run_seeds(Kind::Autoscale, Order::Fifo);
}

/// As above, `AioAutoScaleTaskPoolLifo`.
#[test]
fn model_autoscaled_lifo_pool_follows_the_documented_rules_step_by_step() {
    run_seeds(Kind::Autoscale, Order::Lifo);
}

/// As above, `AioAutoScaleTaskPoolPriority`.
#[test]
fn model_autoscaled_priority_pool_follows_the_documented_rules_step_by_step() {
    run_seeds(Kind::Autoscale, Order::Priority);
}

// ------------------------------------------------------- hand-polled cases

/// A holding body: enters the meter, waits for its gate, returns `id`.
fn held(meter: &Meter, id: usize) -> (Body, Arc<AtomicU8>) {
    let ctrl = Arc::new(AtomicU8::new(0));
    let (m, c) = (meter.clone(), ctrl.clone());
    let body: Body = Box::pin(async move {
        let _inside = m.enter();
        Ctrl(c).await;
        id
    });
    (body, ctrl)
}

/// §3 "a dropped running call frees its slot": a body with four await
/// points, dropped after 0..=4 of its polls, on all six pools; each time the
/// queued call behind it is woken and admitted, the dropped body's meter
/// guard is gone, and the drop is one `cancelled` call.
#[test]
fn a_call_dropped_at_each_of_its_await_points_hands_its_slot_on_in_all_six_pools() {
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 1);
        let meter = Meter::default();
        for j in 0..=4usize {
            let m = meter.clone();
            let mut first = Task::new(pool.submit(async move {
                let _inside = m.enter();
                for _ in 0..4 {
                    common::PendingOnce::default().await;
                }
            }));
            // 1 poll: admitted and at its first await; j more: j awaits on.
            for _ in 0..=j.min(3) {
                first.assert_pending();
            }
            let (body, ctrl) = held(&meter, j);
            let mut second = Task::new(pool.submit(body));
            second.assert_pending();
            assert_eq!(pool.stats().waiting, 1, "{kind:?}/{order:?} j={j}");
            assert_eq!(meter.now(), 1);
            drop(first);
            assert_eq!(meter.now(), 0, "the dropped body's work is dropped");
            assert!(
                second.is_woken(),
                "{kind:?}/{order:?} j={j}: hand-off wakes"
            );
            second.assert_pending();
            assert_eq!(meter.now(), 1, "the next call runs");
            ctrl.store(1, Ordering::SeqCst);
            assert_eq!(second.assert_ready(), Ok(j));
            let s = pool.stats();
            assert_eq!(s.cancelled, j as u64 + 1, "{kind:?}/{order:?}: {s:?}");
            assert_eq!(s.completed, j as u64 + 1, "{kind:?}/{order:?}: {s:?}");
            assert_eq!((s.running, s.waiting), (0, 0));
            assert_accounted(&s);
        }
        assert!(meter.max() <= 1, "{kind:?}/{order:?}: {}", meter.max());
    }
}

/// `scale`: "A fixed pool scaled to 0 holds its queue until scaled up
/// again"; `close`: "waiting and running calls finish"; `drained`:
/// "resolves once the pool is closed and nothing is waiting or running".
/// Together: a closed pool at size 0 keeps its queue (not turned away, not
/// drained) until a scale-up lets it run, then drains.
#[test]
fn a_closed_pool_at_size_zero_keeps_its_queue_until_scaled_up_then_drains() {
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 1);
        let meter = Meter::default();
        let (body, gate) = held(&meter, 0);
        let mut running = Task::new(pool.submit(body));
        running.assert_pending();
        let mut queued: Vec<_> = (1..=2)
            .map(|i| {
                let (body, gate) = held(&meter, i);
                gate.store(1, Ordering::SeqCst);
                let mut t = Task::new(pool.submit(body));
                t.assert_pending();
                t
            })
            .collect();
        assert_eq!(pool.scale(-1), 0);
        pool.close();
        let mut drained = Task::new(pool.drained());
        drained.assert_pending();
        gate.store(1, Ordering::SeqCst);
        assert_eq!(running.assert_ready(), Ok(0));
        for t in queued.iter_mut() {
            t.assert_pending();
        }
        drained.assert_pending();
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 2), "{kind:?}/{order:?}: {s:?}");
        assert_eq!(
            Task::new(pool.submit(async {})).assert_ready(),
            Err(Rejected::Closed)
        );
        assert_eq!(pool.scale(1), 1);
        let mut outs = Vec::new();
        for _ in 0..2 {
            let i = (0..queued.len())
                .find(|&i| queued[i].is_woken())
                .expect("a scale-up wakes a waiter");
            outs.push(queued[i].assert_ready().unwrap());
            queued.remove(i);
        }
        outs.sort_unstable();
        assert_eq!(outs, [1, 2]);
        assert!(
            drained.is_woken(),
            "{kind:?}/{order:?}: the drain wakes its waiter"
        );
        drained.assert_ready();
        let s = pool.stats();
        assert_eq!(s.completed, 3);
        assert_eq!(s.rejected_for(Rejected::Closed), 1);
        assert_accounted(&s);
        assert_eq!(meter.max(), 1);
    }
}

/// `scale(delta)` on an autoscaled pool: clamped to `[min, max]` whatever
/// `delta` (`isize::MAX`, `isize::MIN`); growing admits exactly as many
/// waiters as new slots, in order; shrinking never interrupts running work
/// and admits nothing until running < the new size.
#[test]
fn extreme_scale_deltas_clamp_to_the_bounds_and_admit_exactly_what_fits() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .order(order)
            .min(2)
            .max(5)
            .autoscale_interval(Duration::MAX)
            .build()
            .unwrap();
        assert_eq!(pool.size(), 2);
        let meter = Meter::default();
        let mut tasks = Vec::new();
        let mut gates = Vec::new();
        for i in 0..8 {
            let (body, gate) = held(&meter, i);
            let mut t = Task::new(pool.submit(body));
            t.assert_pending();
            tasks.push(t);
            gates.push(gate);
        }
        assert_eq!(meter.now(), 2);
        assert_eq!(pool.scale(isize::MAX), 5, "{order:?}");
        assert_eq!(tasks.iter().filter(|t| t.is_woken()).count(), 3);
        for t in tasks.iter_mut() {
            t.assert_pending();
        }
        assert_eq!(meter.now(), 5);
        assert_eq!(pool.scale(isize::MIN), 2, "{order:?}");
        assert_eq!(pool.stats().running, 5, "running work is never interrupted");
        // Finish running bodies one by one: nothing is admitted until
        // running < 2, i.e. after the fourth finishes.
        let mut finished = 0;
        for i in 0..8 {
            if pool.stats().running == 0 {
                break;
            }
            // Only bodies that entered can finish: poll those whose gate we open.
            gates[i].store(1, Ordering::SeqCst);
            if let Poll::Ready(out) = tasks[i].poll() {
                assert_eq!(out, Ok(i));
                finished += 1;
                let s = pool.stats();
                if finished < 4 {
                    assert_eq!(s.running, 5 - finished, "{order:?}: {s:?}");
                    assert_eq!(s.waiting, 3, "{order:?}: nothing admitted yet: {s:?}");
                } else {
                    assert_eq!(s.running, 2, "{order:?}: one admitted: {s:?}");
                    assert_eq!(s.waiting, 2, "{order:?}: {s:?}");
                    break;
                }
            } else {
                gates[i].store(0, Ordering::SeqCst);
            }
        }
        assert_eq!(finished, 4, "{order:?}");
        assert!(meter.max() <= 5);
        assert_eq!(pool.resize(usize::MAX), 5, "resize clamps too");
        assert_eq!(pool.resize(0), 2);
    }
}

// ------------------------------------------------ races on real threads

/// Waits (bounded) until `cond` holds.
#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn scale_race(kind: Kind, order: Order) {
    within(Duration::from_secs(40), move || {
        let pool = pool_of(kind, order, 2);
        let meter = Meter::default();
        let strict = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let violations = Arc::new(AtomicUsize::new(0));
        let oks = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (pool, meter, strict, stop, violations, oks) = (
                    pool.clone(),
                    meter.clone(),
                    strict.clone(),
                    stop.clone(),
                    violations.clone(),
                    oks.clone(),
                );
                std::thread::spawn(move || {
                    let weights = [i64::MIN, 0, i64::MAX];
                    let mut n = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let out = pool.run_weighted(weights[(t + n) % 3], || {
                            let _inside = meter.enter();
                            if strict.load(Ordering::SeqCst) && meter.now() > 2 {
                                violations.fetch_add(1, Ordering::SeqCst);
                            }
                            std::thread::yield_now();
                        });
                        assert_eq!(out, Ok(()), "no call is turned away");
                        oks.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let mut rng = Rng(7);
        let mut top = 2;
        for _ in 0..300 {
            let n = rng.below(7);
            top = top.max(n);
            assert_eq!(pool.resize(n), n);
            std::thread::sleep(Duration::from_micros(100));
        }
        assert_eq!(pool.resize(2), 2);
        wait_until("running is within the new size", || {
            pool.stats().running <= 2
        });
        strict.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(60));
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(violations.load(Ordering::SeqCst), 0, "{kind:?}/{order:?}");
        assert!(meter.max() <= top, "{} > {top}", meter.max());
        let s = pool.stats();
        assert_eq!(s.completed, oks.load(Ordering::SeqCst) as u64, "{s:?}");
        assert_eq!((s.cancelled, s.rejected_total()), (0, 0), "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// DESIGN §3 "Scaling changes the limit only… admission resumes once
/// running < limit", raced: six threads of sync callers (extreme weights)
/// while the limit jumps between 0 and 6 three hundred times; once it
/// settles at 2 and running has come down to it, no more than 2 bodies are
/// ever inside, and every call is counted once — on a fixed priority pool
/// and an autoscaled LIFO one (`resize` within `[0, 8]`).
#[test]
fn sync_callers_racing_three_hundred_resizes_keep_the_settled_limit() {
    scale_race(Kind::Fixed, Order::Priority);
    scale_race(Kind::Autoscale, Order::Lifo);
}

/// `pause`: new calls are `Rejected::Paused`, and `Stats` counts each one:
/// four threads of sync callers while the pool is paused and resumed a
/// hundred times; every call either ran or was turned away `Paused`, and
/// the pool's counters equal the callers' own.
#[test]
fn pause_toggled_under_threaded_load_counts_every_turned_away_call() {
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(2)
            .build()
            .unwrap();
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (pool, meter, stop) = (pool.clone(), meter.clone(), stop.clone());
                std::thread::spawn(move || {
                    let (mut ok, mut paused) = (0u64, 0u64);
                    let mut ran = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        match pool.run_weighted(t as i64 - 2, || {
                            let _inside = meter.enter();
                            ran += 1;
                            std::thread::yield_now();
                        }) {
                            Ok(()) => ok += 1,
                            Err(Rejected::Paused) => paused += 1,
                            Err(other) => panic!("unexpected {other:?}"),
                        }
                    }
                    assert_eq!(ran, ok, "a turned-away closure never runs");
                    (ok, paused)
                })
            })
            .collect();
        for _ in 0..100 {
            pool.pause();
            std::thread::sleep(Duration::from_micros(300));
            pool.resume();
            std::thread::sleep(Duration::from_micros(300));
        }
        stop.store(true, Ordering::SeqCst);
        let (mut ok, mut paused) = (0, 0);
        for t in threads {
            let (o, p) = t.join().unwrap();
            ok += o;
            paused += p;
        }
        assert!(ok > 0 && paused > 0, "ok {ok}, paused {paused}");
        let s = pool.stats();
        assert_eq!(s.completed, ok, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Paused), paused, "{s:?}");
        assert_eq!(s.rejected_total(), paused, "{s:?}");
        assert_eq!(s.submitted(), ok + paused, "{s:?}");
        assert!(!s.paused);
        assert_accounted(&s);
        assert!(meter.max() <= 2, "{}", meter.max());
    });
}

/// `close`: "Stops intake for good": under threaded load, once a caller
/// has been turned away `Closed`, every later call is too; the calls that
/// were waiting at the close run; `drained` then resolves; the counters
/// equal the callers' own.
#[test]
fn close_under_threaded_load_is_for_good_and_drains() {
    within(Duration::from_secs(30), || {
        let pool = pool_of(Kind::Autoscale, Order::Fifo, 2);
        let meter = Meter::default();
        let threads: Vec<_> = (0..5)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                std::thread::spawn(move || {
                    let (mut ok, mut closed) = (0u64, 0u64);
                    loop {
                        match pool.run(|| {
                            let _inside = meter.enter();
                            std::thread::sleep(Duration::from_micros(50));
                        }) {
                            Ok(()) => ok += 1,
                            Err(Rejected::Closed) => {
                                closed += 1;
                                break;
                            }
                            Err(other) => panic!("unexpected {other:?}"),
                        }
                    }
                    for _ in 0..10 {
                        assert_eq!(pool.run(|| ()), Err(Rejected::Closed), "closed for good");
                        closed += 1;
                    }
                    (ok, closed)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        pool.close();
        let (mut ok, mut closed) = (0, 0);
        for t in threads {
            let (o, c) = t.join().unwrap();
            ok += o;
            closed += c;
        }
        futures::executor::block_on(pool.drained());
        let s = pool.stats();
        assert_eq!(s.completed, ok, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), closed, "{s:?}");
        assert_eq!(s.rejected_total(), closed);
        assert_eq!(s.in_flight(), 0);
        assert!(s.closed && pool.is_closed());
        assert_accounted(&s);
        assert!(meter.max() <= 2);
    });
}

/// `abort`: "rejects every waiting call at once with `Rejected::Closed`…;
/// running calls finish". Forty async calls on a two-slot pool of a
/// multi-thread runtime, aborted mid-way: right after `abort` nothing
/// waits; each call ran or was turned away `Closed`, and the pool's
/// counters equal the callers' own.
#[test]
fn abort_under_async_load_turns_away_every_waiter_at_once() {
    let rt = common::runtime();
    rt.block_on(async {
        let pool = Pool::builder().order(Order::Lifo).size(2).build().unwrap();
        let meter = Meter::default();
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                tokio::spawn(async move { pool.submit(meter.body(3)).await })
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while pool.stats().running < 2 || pool.stats().waiting < 10 {
            assert!(tokio::time::Instant::now() < deadline, "{:?}", pool.stats());
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        pool.abort();
        assert_eq!(pool.stats().waiting, 0, "no call waits after abort");
        let (mut ok, mut closed) = (0u64, 0u64);
        for h in handles {
            match tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .expect("hung")
                .unwrap()
            {
                Ok(()) => ok += 1,
                Err(Rejected::Closed) => closed += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        tokio::time::timeout(Duration::from_secs(10), pool.drained())
            .await
            .expect("drained hung");
        assert!(closed > 0 && ok >= 2, "ok {ok}, closed {closed}");
        let s = pool.stats();
        assert_eq!(s.completed, ok, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), closed, "{s:?}");
        assert_eq!(s.submitted(), 40);
        assert_accounted(&s);
        assert!(meter.max() <= 2);
        assert_eq!(meter.done() as u64, ok, "only admitted calls ran");
    });
}

/// §3 "A dropped waiting call leaves the queue at once and loses nothing;
/// a dropped running call frees its slot. Nothing leaks, whatever the mix":
/// 150 calls per pool, each under a `tokio::time::timeout` that fires at a
/// random point (waiting, or at one of its body's awaits), on all six pools
/// of a multi-thread runtime. Every timeout is one `cancelled`, every
/// output one `completed`, the meter never passes the limit, and the pool
/// ends empty.
#[test]
fn timeouts_firing_at_random_points_are_counted_cancelled_and_leak_nothing() {
    let rt = common::runtime();
    rt.block_on(async {
        for (n, (kind, order)) in SIX.into_iter().enumerate() {
            let pool = pool_of(kind, order, 3);
            let meter = Meter::default();
            let mut rng = Rng(n as u64 + 11);
            let handles: Vec<_> = (0..150)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    let limit = Duration::from_micros(rng.below(4000) as u64);
                    let steps: Vec<u64> = (0..3).map(|_| rng.below(700) as u64).collect();
                    let weight = [i64::MIN, 0, i64::MAX][rng.below(3)];
                    tokio::spawn(async move {
                        let work = pool.submit_weighted(weight, async move {
                            let _inside = meter.enter();
                            for us in steps {
                                tokio::time::sleep(Duration::from_micros(us)).await;
                            }
                        });
                        tokio::time::timeout(limit, work).await
                    })
                })
                .collect();
            let (mut ok, mut cut) = (0u64, 0u64);
            for h in handles {
                match tokio::time::timeout(Duration::from_secs(20), h)
                    .await
                    .expect("hung")
                    .unwrap()
                {
                    Ok(Ok(())) => ok += 1,
                    Ok(Err(r)) => panic!("rejected {r:?}"),
                    Err(_elapsed) => cut += 1,
                }
            }
            let s = pool.stats();
            assert_eq!(s.completed, ok, "{kind:?}/{order:?}: {s:?}");
            assert_eq!(s.cancelled, cut, "{kind:?}/{order:?}: {s:?}");
            assert_eq!(s.submitted(), 150, "{kind:?}/{order:?}: {s:?}");
            assert_eq!(s.in_flight(), 0, "{kind:?}/{order:?}: {s:?}");
            assert_accounted(&s);
            assert_eq!(meter.now(), 0);
            assert!(meter.max() <= 3, "{kind:?}/{order:?}: {}", meter.max());
        }
    });
}

// --------------------------------------------------- the seed's examples

/// The seed's first example on each of the six pools built with the seed's
/// defaults (DESIGN §2: fixed size 3; autoscale min 3, max min + 5): four
/// five-second tasks through a pool of 3 run three at once (the fourth
/// waits, so the batch takes two rounds of 5 s of tokio's paused time),
/// each returns its own result, and `scale(3)` then gives 6.
#[tokio::test(start_paused = true)]
async fn the_seeds_example_on_each_default_pool_runs_three_at_once_and_scales_to_six() {
    for (kind, order) in SIX {
        let pool = Pool::builder().kind(kind).order(order).build().unwrap();
        assert_eq!(pool.size(), 3, "{kind:?}/{order:?}");
        if kind == Kind::Autoscale {
            assert_eq!(pool.bounds(), (3, 8), "{order:?}: max = min + 5");
        }
        let meter = Meter::default();
        let test = |name: &'static str| {
            let meter = meter.clone();
            async move {
                let _inside = meter.enter();
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                format!("ok:{name} done")
            }
        };
        let start = tokio::time::Instant::now();
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            futures::future::join_all(["c", "b", "a", "d"].map(|n| pool.submit(test(n)))),
        )
        .await
        .expect("hung");
        let want: Vec<Result<String, Rejected>> = ["c", "b", "a", "d"]
            .iter()
            .map(|n| Ok(format!("ok:{n} done")))
            .collect();
        assert_eq!(out, want, "{kind:?}/{order:?}");
        assert_eq!(meter.max(), 3, "{kind:?}/{order:?}");
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(10),
            "{kind:?}/{order:?}"
        );
        let r = tokio::time::timeout(Duration::from_secs(60), pool.submit(test("e")))
            .await
            .expect("hung");
        assert_eq!(r.as_deref(), Ok("ok:e done"));
        assert_eq!(pool.scale(3), 6, "{kind:?}/{order:?}");
        assert_eq!(pool.stats().size, 6);
        let s = pool.stats();
        assert_eq!((s.submitted(), s.completed), (5, 5), "{s:?}");
        assert_accounted(&s);
    }
}

/// A blocking executor that runs each job on a thread of its own, named so
/// that a job can tell where it ran, and counts the jobs.
struct NamedThreads(AtomicUsize);
impl BlockingExecutor for NamedThreads {
    fn execute(&self, job: BlockingJob) {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::thread::Builder::new()
            .name("round44-executor".into())
            .spawn(job)
            .unwrap();
    }
}

/// The seed's second example (normal functions on an executor), DESIGN §2
/// "blocking closures run on a blocking executor (tokio's by default,
/// pluggable)": four 100 ms closures through the default pool of 3 on
/// tokio's blocking pool and on a plugged executor (used even inside a
/// tokio runtime): never more than 3 at once, so the batch takes at least
/// two rounds; each result comes back.
#[test]
fn the_seeds_blocking_example_runs_three_at_once_on_tokio_and_on_a_plugged_executor() {
    let rt = common::runtime();
    rt.block_on(async {
        let exec = Arc::new(NamedThreads(AtomicUsize::new(0)));
        let pools = [
            Pool::default(),
            Pool::builder()
                .blocking_executor(exec.clone())
                .build()
                .unwrap(),
        ];
        for (p, pool) in pools.iter().enumerate() {
            assert_eq!(pool.size(), 3);
            let meter = Meter::default();
            let start = std::time::Instant::now();
            let calls = ["c", "b", "a", "d"].map(|name| {
                let meter = meter.clone();
                pool.submit_blocking(move || {
                    let _inside = meter.enter();
                    std::thread::sleep(Duration::from_millis(100));
                    let thread = std::thread::current().name().map(str::to_owned);
                    (format!("ok:{name} done"), thread)
                })
            });
            let out =
                tokio::time::timeout(Duration::from_secs(20), futures::future::join_all(calls))
                    .await
                    .expect("hung");
            assert!(start.elapsed() >= Duration::from_millis(200), "pool {p}");
            for (r, name) in out.iter().zip(["c", "b", "a", "d"]) {
                let (text, thread) = r.as_ref().unwrap();
                assert_eq!(*text, format!("ok:{name} done"));
                if p == 1 {
                    assert_eq!(thread.as_deref(), Some("round44-executor"));
                }
            }
            assert!(meter.max() <= 3, "pool {p}: {}", meter.max());
            let s = pool.stats();
            assert_eq!((s.completed, s.in_flight()), (4, 0), "{s:?}");
        }
        assert_eq!(exec.0.load(Ordering::SeqCst), 4);
    });
}

/// `run`: "the thread parks until the call is admitted, in the same queue
/// and order as async calls" — on LIFO pools (fixed and autoscaled), parked
/// threads are admitted newest first.
#[test]
fn parked_sync_callers_on_lifo_pools_are_admitted_newest_first() {
    for kind in [Kind::Fixed, Kind::Autoscale] {
        let pool = pool_of(kind, Order::Lifo, 1);
        let log = Arc::new(Mutex::new(Vec::new()));
        let permit = pool.try_acquire().unwrap();
        let mut threads = Vec::new();
        for i in 0..4 {
            let (pool2, log) = (pool.clone(), log.clone());
            threads.push(std::thread::spawn(move || {
                pool2.run(|| log.lock().unwrap().push(i))
            }));
            wait_until("the thread is parked", || pool.stats().waiting == i + 1);
        }
        drop(permit);
        within(Duration::from_secs(10), move || {
            for t in threads {
                assert_eq!(t.join().unwrap(), Ok(()));
            }
        });
        assert_eq!(*log.lock().unwrap(), [3, 2, 1, 0], "{kind:?}");
        let s = pool.stats();
        assert_eq!(s.completed, 5, "{s:?}");
        assert_accounted(&s);
    }
}

/// `submit_blocking_weighted` on a priority pool: blocking work queues by
/// weight like async work — extremes included, ties first-come first-served.
#[test]
fn weighted_blocking_calls_start_in_priority_order_with_extremes_and_ties() {
    let rt = common::runtime();
    rt.block_on(async {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let permit = pool.try_acquire_owned(0).unwrap();
        let weights = [3, i64::MIN, 3, i64::MAX, -5];
        let mut handles = Vec::new();
        for (i, w) in weights.into_iter().enumerate() {
            let (pool2, log) = (pool.clone(), log.clone());
            handles.push(tokio::spawn(async move {
                pool2
                    .submit_blocking_weighted(w, move || log.lock().unwrap().push(i))
                    .await
            }));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while pool.stats().waiting != i + 1 {
                assert!(tokio::time::Instant::now() < deadline, "not queued");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        drop(permit);
        for h in handles {
            let r = tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .expect("hung");
            assert_eq!(r.unwrap(), Ok(()));
        }
        assert_eq!(*log.lock().unwrap(), [1, 4, 0, 2, 3]);
        assert_accounted(&pool.stats());
    });
}

/// `max_waiting(0)`: "never wait, run now or be turned away", on all six
/// pools and every call form: with the slot free a call runs; with it held
/// each form is `Full` at once (the work never runs) and counted; once the
/// slot frees, a call runs again.
#[test]
fn a_waiting_bound_of_zero_runs_now_or_turns_away_on_every_form_of_all_six_pools() {
    // Calls on this thread that must not wait: a hang fails the run.
    let watchdog = Watchdog::arm(Duration::from_secs(60));
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 1);
        pool.set_max_waiting(Some(0)).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let mut first = Task::new(pool.submit(async move {
            r.fetch_add(1, Ordering::SeqCst);
            common::PendingOnce::default().await;
        }));
        first.assert_pending();
        let r = ran.clone();
        let mut t = Task::new(pool.submit_weighted(i64::MIN, async move {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(t.assert_ready(), Err(Rejected::Full), "{kind:?}/{order:?}");
        assert_eq!(
            pool.run(|| ran.fetch_add(1, Ordering::SeqCst)),
            Err(Rejected::Full)
        );
        assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
        assert_eq!(
            Task::new(pool.acquire_weighted(i64::MIN))
                .assert_ready()
                .err(),
            Some(Rejected::Full)
        );
        let r = ran.clone();
        let blocking = futures::executor::block_on(pool.submit_blocking(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(blocking, Err(Rejected::Full));
        assert_eq!(ran.load(Ordering::SeqCst), 1, "{kind:?}/{order:?}");
        let s = pool.stats();
        assert_eq!(
            s.rejected_for(Rejected::Full),
            5,
            "{kind:?}/{order:?}: {s:?}"
        );
        assert_eq!((s.running, s.waiting), (1, 0));
        first.assert_ready().unwrap();
        assert_eq!(pool.run(|| 7), Ok(7), "{kind:?}/{order:?}: runs now");
        let s = pool.stats();
        assert_eq!(s.completed, 2);
        assert_accounted(&s);
    }
    watchdog.disarm();
}

/// `shutdown` at its extremes: with `Some(Duration::ZERO)` on a pool with
/// one running and two waiting calls it returns at once, saying 1 running
/// and 2 turned away (the waiters get `Closed`, the running call finishes);
/// on an idle pool it is `Ok`; with `Some(Duration::MAX)` it waits (no
/// overflow, no early return) until the running call ends, then is `Ok`;
/// and a parked sync caller is turned away by a zero shutdown too (below).
#[test]
fn shutdown_with_zero_and_max_timeouts() {
    for (kind, order) in SIX {
        // ZERO, busy.
        let pool = pool_of(kind, order, 1);
        let meter = Meter::default();
        let (body, gate) = held(&meter, 0);
        let mut running = Task::new(pool.submit(body));
        running.assert_pending();
        let mut waiters: Vec<_> = (1..=2)
            .map(|i| {
                let mut t = Task::new(pool.submit(held(&meter, i).0));
                t.assert_pending();
                t
            })
            .collect();
        let p = pool.clone();
        let out = within(Duration::from_secs(10), move || {
            futures::executor::block_on(p.shutdown(Some(Duration::ZERO)))
        });
        let err = out.expect_err("the pool was busy");
        assert_eq!(
            (err.running, err.nested, err.turned_away, err.waiting),
            (1, 0, 2, 0),
            "{kind:?}/{order:?}: {err}"
        );
        for w in waiters.iter_mut() {
            assert_eq!(w.assert_ready(), Err(Rejected::Closed));
        }
        gate.store(1, Ordering::SeqCst);
        assert_eq!(running.assert_ready(), Ok(0));
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::Closed), s.in_flight()),
            (1, 2, 0),
            "{s:?}"
        );
        assert_accounted(&s);
        // ZERO, idle.
        let idle = pool_of(kind, order, 1);
        let p = idle.clone();
        let out = within(Duration::from_secs(10), move || {
            futures::executor::block_on(p.shutdown(Some(Duration::ZERO)))
        });
        assert_eq!(out, Ok(()), "{kind:?}/{order:?}");
        assert!(idle.is_closed());
        // MAX, busy until the call ends.
        let pool = pool_of(kind, order, 1);
        let (body, gate) = held(&meter, 9);
        let mut running = Task::new(pool.submit(body));
        running.assert_pending();
        let p = pool.clone();
        let waiter = std::thread::spawn(move || {
            futures::executor::block_on(p.shutdown(Some(Duration::MAX)))
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished(), "{kind:?}/{order:?}: returned early");
        assert!(pool.is_closed());
        gate.store(1, Ordering::SeqCst);
        assert_eq!(running.assert_ready(), Ok(9));
        let out = within(Duration::from_secs(10), move || waiter.join().unwrap());
        assert_eq!(out, Ok(()), "{kind:?}/{order:?}");
    }
    a_sync_caller_parked_on_a_pool_at_zero_is_turned_away_by_a_zero_shutdown();
}

// ------------------------------------------------------ chaos accounting

#[derive(Default, Debug)]
struct Outcomes {
    ok: AtomicUsize,
    panicked: AtomicUsize,
    cancelled: AtomicUsize,
    paused: AtomicUsize,
    full: AtomicUsize,
    timed_out: AtomicUsize,
    closed: AtomicUsize,
}

impl Outcomes {
    fn count(&self, r: Result<(), Rejected>) {
        let c = match r {
            Ok(()) => &self.ok,
            Err(Rejected::Paused) => &self.paused,
            Err(Rejected::Full) => &self.full,
            Err(Rejected::TimedOut) => &self.timed_out,
            Err(Rejected::Closed) => &self.closed,
            Err(other) => panic!("unexpected {other:?}"),
        };
        c.fetch_add(1, Ordering::SeqCst);
    }
    fn get(c: &AtomicUsize) -> u64 {
        c.load(Ordering::SeqCst) as u64
    }
}

fn chaos(kind: Kind, order: Order, seed: u64, barging: Option<Duration>) {
    common::quiet_planned_panics();
    let pool = pool_of(kind, order, 3);
    pool.set_sync_barging(barging);
    pool.set_max_waiting(Some(6)).unwrap();
    pool.set_admission_timeout(Some(Duration::from_millis(2)));
    let meter = Meter::default();
    let out = Arc::new(Outcomes::default());
    let stop = Arc::new(AtomicBool::new(false));
    let rt = common::runtime();
    // Sync callers on their own threads.
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            let (pool, meter, out, stop) = (pool.clone(), meter.clone(), out.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(seed * 31 + t + 1);
                while !stop.load(Ordering::SeqCst) {
                    let w = [i64::MIN, 0, i64::MAX][rng.below(3)];
                    let panics = rng.below(13) == 0;
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        pool.run_weighted(w, || {
                            let _inside = meter.enter();
                            std::thread::sleep(Duration::from_micros(150));
                            if panics {
                                panic!("planned: a sync body panics");
                            }
                        })
                    }));
                    if matches!(r, Ok(Err(_))) {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    match r {
                        Ok(r) => out.count(r),
                        Err(_) => {
                            out.panicked.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    // Async callers, each call cancelled by a timeout at a random point.
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let (pool, meter, out, stop) = (pool.clone(), meter.clone(), out.clone(), stop.clone());
            rt.spawn(async move {
                let mut rng = Rng(seed * 77 + t + 5);
                while !stop.load(Ordering::SeqCst) {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    let w = [i64::MIN, -1, 0, i64::MAX][rng.below(4)];
                    let limit = Duration::from_micros(rng.below(3000) as u64);
                    let run_for = Duration::from_micros(rng.below(600) as u64);
                    let panics = rng.below(11) == 0;
                    let call = tokio::spawn(async move {
                        let work = pool.submit_weighted(w, async move {
                            let _inside = meter.enter();
                            tokio::time::sleep(run_for).await;
                            if panics {
                                panic!("planned: an async body panics");
                            }
                        });
                        tokio::time::timeout(limit, work).await
                    });
                    match call.await {
                        Ok(Ok(r)) => {
                            if r.is_err() {
                                tokio::time::sleep(Duration::from_micros(50)).await;
                            }
                            out.count(r)
                        }
                        Ok(Err(_elapsed)) => {
                            out.cancelled.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            assert!(e.is_panic());
                            out.panicked.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    // The operator: resizes, pauses and resumes at random.
    let mut rng = Rng(seed + 99);
    let mut top = 3;
    for _ in 0..150 {
        match rng.below(6) {
            0 | 1 => {
                let n = rng.below(6);
                top = top.max(pool.resize(n));
            }
            2 => pool.pause(),
            3 => pool.resume(),
            _ => {}
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    pool.resume();
    pool.resize(3);
    std::thread::sleep(Duration::from_millis(10));
    // Closed while the callers go on: they meet `Closed` from now on.
    pool.close();
    wait_until("a caller meets the close", || {
        out.closed.load(Ordering::SeqCst) > 0
    });
    stop.store(true, Ordering::SeqCst);
    within(Duration::from_secs(20), move || {
        for t in threads {
            t.join().unwrap();
        }
    });
    rt.block_on(async {
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("hung")
                .unwrap();
        }
    });
    let p = pool.clone();
    within(Duration::from_secs(10), move || {
        futures::executor::block_on(p.drained())
    });
    let s = pool.stats();
    let g = Outcomes::get;
    let ctx = format!("{kind:?}/{order:?} seed {seed}: {s:?} vs {out:?}");
    assert_eq!(s.completed, g(&out.ok) + g(&out.panicked), "{ctx}");
    assert_eq!(s.panicked, g(&out.panicked), "{ctx}");
    assert_eq!(s.rejected_for(Rejected::Paused), g(&out.paused), "{ctx}");
    assert_eq!(s.rejected_for(Rejected::Full), g(&out.full), "{ctx}");
    assert_eq!(s.rejected_for(Rejected::Closed), g(&out.closed), "{ctx}");
    // A call whose admission timeout passed just as the caller's own
    // timeout dropped it may be counted either way (the docs do not say
    // which); the sum is exact, and every observed `TimedOut` is counted.
    assert_eq!(
        s.cancelled + s.rejected_for(Rejected::TimedOut),
        g(&out.cancelled) + g(&out.timed_out),
        "{ctx}"
    );
    assert!(
        s.rejected_for(Rejected::TimedOut) >= g(&out.timed_out),
        "{ctx}"
    );
    assert_eq!(s.in_flight(), 0, "{ctx}");
    assert_accounted(&s);
    assert_eq!(meter.now(), 0);
    assert!(meter.max() <= top, "{ctx}: {} > {top}", meter.max());
    assert!(g(&out.ok) > 0 && g(&out.closed) > 0, "{ctx}");
}

/// §6 "Tests assert… accounting": sync callers (panicking now and then),
/// async callers cancelled by timeouts at random points, a waiting bound,
/// an admission timeout, and an operator resizing, pausing and resuming at
/// random, all at once on a fixed LIFO pool (and a FIFO one); then a close while the
/// callers go on, and a drain. Every
/// outcome a caller saw is in the pool's counter for it.
#[test]
fn chaos_on_fixed_lifo_and_fifo_pools_every_outcome_is_counted_once() {
    chaos(Kind::Fixed, Order::Lifo, 1, None);
    chaos(Kind::Fixed, Order::Fifo, 3, None);
}

/// As above, on an autoscaled priority pool.
#[test]
fn chaos_on_an_autoscaled_priority_pool_every_outcome_is_counted_once() {
    chaos(Kind::Autoscale, Order::Priority, 2, None);
}

/// As above, on a fixed priority pool whose sync callers barge for up to
/// 1 ms (`sync_barging`: "A call waiting outside the queue is a waiting
/// call: it counts in `Stats::waiting`, … `max_waiting`…; a close leaves it
/// waiting…; a closed pool is not drained while one waits").
#[test]
fn chaos_with_sync_barging_every_outcome_is_counted_once() {
    chaos(
        Kind::Fixed,
        Order::Priority,
        4,
        Some(Duration::from_millis(1)),
    );
}

// ----------------------------------------------- more hostile single cases

/// §6 "no panics on bad input", README "Bad input is an error value, never
/// a panic, an overflow or a freeze": the builder at `usize::MAX` (where a
/// default `max = min + 5` or a size check could overflow), `Duration::MAX`
/// and zero says what is wrong (each with a message) and never panics; the
/// largest legal values build and run. (Round 43 checks the exact bounds at
/// `MAX_SLOTS + 1`.)
#[test]
fn the_builder_at_zero_and_huge_values_returns_errors_never_panics() {
    // Calls on this thread that must not wait: a hang fails the run.
    let watchdog = Watchdog::arm(Duration::from_secs(60));
    let auto = || Pool::builder().kind(Kind::Autoscale);
    let cases: Vec<(&str, Result<Pool, BuildError>)> = vec![
        ("fixed size 0", Pool::builder().size(0).build()),
        ("fixed size MAX", Pool::builder().size(usize::MAX).build()),
        ("auto min MAX", auto().min(usize::MAX).build()),
        ("auto max MAX", auto().max(usize::MAX).build()),
        ("auto size MAX", auto().size(usize::MAX).build()),
        ("auto max 0", auto().max(0).build()),
        ("auto min>max", auto().min(usize::MAX).max(1).build()),
        (
            "max_waiting MAX",
            Pool::builder().max_waiting(usize::MAX).build(),
        ),
        ("window 0", auto().autoscale_window(0).build()),
        ("window MAX", auto().autoscale_window(usize::MAX).build()),
        (
            "interval 0",
            auto().autoscale_interval(Duration::ZERO).build(),
        ),
        ("bounds on fixed", Pool::builder().min(1).build()),
    ];
    for (what, r) in cases {
        let e = r.err().unwrap_or_else(|| panic!("{what}: built"));
        assert!(!e.to_string().is_empty(), "{what}");
    }
    assert!(matches!(
        Pool::builder().size(usize::MAX).build().err(),
        Some(BuildError::TooLarge { value: usize::MAX })
    ));
    assert_eq!(
        Pool::builder().size(0).build().err(),
        Some(BuildError::ZeroSize)
    );
    let top = Pool::builder().size(MAX_SLOTS).build().unwrap();
    assert_eq!(top.size(), MAX_SLOTS);
    assert_eq!(top.scale(1), MAX_SLOTS);
    let top = auto().min(MAX_SLOTS).build().unwrap();
    assert_eq!(
        top.bounds(),
        (MAX_SLOTS, MAX_SLOTS),
        "max = min + 5, at most MAX_SLOTS"
    );
    let any = Pool::builder()
        .max_waiting(MAX_SLOTS)
        .admission_timeout(Duration::MAX)
        .sync_barging(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(any.max_waiting(), Some(MAX_SLOTS));
    assert_eq!(any.run(|| 1), Ok(1));
    assert_eq!(futures::executor::block_on(any.submit(async { 2 })), Ok(2));
    watchdog.disarm();
}

/// `drained`: "Cancel-safe: it only observes" — many `drained` waits on
/// several threads, some dropped after registering, all of the others
/// resolve once the pool is closed and its last call ends.
#[test]
fn many_drained_waits_some_dropped_all_others_resolve() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(2)
        .build()
        .unwrap();
    let meter = Meter::default();
    let (body, gate) = held(&meter, 0);
    let mut running = Task::new(pool.submit(body));
    running.assert_pending();
    // Registered, then abandoned.
    for _ in 0..50 {
        let mut d = Task::new(pool.drained());
        d.assert_pending();
    }
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (pool, done) = (pool.clone(), done.clone());
            std::thread::spawn(move || {
                futures::executor::block_on(pool.drained());
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let mut kept: Vec<_> = (0..10).map(|_| Task::new(pool.drained())).collect();
    for k in kept.iter_mut() {
        k.assert_pending();
    }
    std::thread::sleep(Duration::from_millis(20));
    pool.close();
    assert_eq!(done.load(Ordering::SeqCst), 0, "a call still runs");
    for k in kept.iter_mut() {
        k.assert_pending();
    }
    gate.store(1, Ordering::SeqCst);
    assert_eq!(running.assert_ready(), Ok(0));
    for k in kept.iter_mut() {
        assert!(k.is_woken(), "the drain wakes every kept wait");
        k.assert_ready();
    }
    within(Duration::from_secs(10), move || {
        for t in threads {
            t.join().unwrap();
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 6);
}

/// `submit_blocking`: "A panic in `f` is re-raised in the caller", and
/// `Pool`'s *Panics*: "A panic in a call's work frees its slot, is counted
/// in `Stats::panicked`" — the blocking call queued behind it runs.
#[test]
fn a_panicking_blocking_closure_frees_its_slot_for_the_next_waiter() {
    common::quiet_planned_panics();
    let rt = common::runtime();
    rt.block_on(async {
        for (kind, order) in SIX {
            let pool = pool_of(kind, order, 1);
            let meter = Meter::default();
            let m = meter.clone();
            let p = pool.clone();
            let first = tokio::spawn(async move {
                p.submit_blocking(move || {
                    let _inside = m.enter();
                    std::thread::sleep(Duration::from_millis(20));
                    panic!("planned: a blocking closure panics");
                })
                .await
            });
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while pool.stats().running != 1 {
                assert!(tokio::time::Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let m = meter.clone();
            let second = pool.submit_blocking(move || {
                let _inside = m.enter();
                5
            });
            let second = tokio::time::timeout(Duration::from_secs(10), second)
                .await
                .expect("hung");
            assert_eq!(second, Ok(5), "{kind:?}/{order:?}");
            let first = tokio::time::timeout(Duration::from_secs(10), first)
                .await
                .expect("hung");
            assert!(first.unwrap_err().is_panic(), "re-raised in the caller");
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.panicked),
                (2, 1),
                "{kind:?}/{order:?}: {s:?}"
            );
            assert_accounted(&s);
            assert_eq!(meter.max(), 1);
        }
    });
}

/// The seed's `async with Pool() as p` (DESIGN §2: "a scoped form closes
/// it at the end of a block"), on all six pools: calls inside run within
/// the limit, the scope waits for them, and afterwards the pool (any
/// clone) is closed and empty.
#[test]
fn a_scope_on_each_pool_runs_its_calls_within_the_limit_then_closes() {
    // Calls on this thread that must not wait: a hang fails the run.
    let watchdog = Watchdog::arm(Duration::from_secs(60));
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 2);
        let handle = pool.clone();
        let meter = Meter::default();
        let m = meter.clone();
        let total = within(Duration::from_secs(10), move || {
            futures::executor::block_on(pool.scoped(|p| async move {
                let calls = (0..6).map(|i| {
                    let m = m.clone();
                    p.submit_weighted(i as i64 * 1000 - 3000, async move {
                        let _inside = m.enter();
                        common::yield_now().await;
                        i
                    })
                });
                futures::future::join_all(calls)
                    .await
                    .into_iter()
                    .map(|r| r.unwrap())
                    .sum::<usize>()
            }))
        });
        assert_eq!(total, 15, "{kind:?}/{order:?}");
        assert!(handle.is_closed());
        assert_eq!(
            futures::executor::block_on(handle.submit(async {})),
            Err(Rejected::Closed)
        );
        let s = handle.stats();
        assert_eq!((s.completed, s.in_flight()), (6, 0), "{s:?}");
        assert_eq!(meter.max(), 2, "{kind:?}/{order:?}");
    }
    watchdog.disarm();
}

/// (Part of `shutdown_with_zero_and_max_timeouts`.) `shutdown` past its
/// deadline "turns away the calls still waiting", and
/// `run`: "the thread parks until the call is admitted" — so a parked sync
/// caller of a pool scaled to 0 gets `Closed` from a zero-timeout shutdown
/// (its closure never runs), on all six pools.
fn a_sync_caller_parked_on_a_pool_at_zero_is_turned_away_by_a_zero_shutdown() {
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 1);
        assert_eq!(pool.resize(0), 0);
        let ran = Arc::new(AtomicBool::new(false));
        let (p, r) = (pool.clone(), ran.clone());
        let caller = std::thread::spawn(move || p.run(|| r.store(true, Ordering::SeqCst)));
        wait_until("the caller is parked", || pool.stats().waiting == 1);
        let p = pool.clone();
        let out = within(Duration::from_secs(10), move || {
            futures::executor::block_on(p.shutdown(Some(Duration::ZERO)))
        });
        let err = out.expect_err("a call was waiting");
        assert_eq!((err.running, err.turned_away), (0, 1), "{kind:?}/{order:?}");
        let r = within(Duration::from_secs(10), move || caller.join().unwrap());
        assert_eq!(r, Err(Rejected::Closed), "{kind:?}/{order:?}");
        assert!(!ran.load(Ordering::SeqCst));
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Closed), 1);
        assert_accounted(&s);
    }
}

/// Control operations made from inside running work (hostile reentrancy of
/// `resize`, `pause`, `abort` rather than of calls) neither deadlock nor
/// touch the caller's own call: a body that resizes its pool to 0, pauses
/// it and aborts it finishes normally; the waiters are turned away, the
/// caller's output comes back.
#[test]
fn a_body_that_resizes_pauses_and_aborts_its_own_pool_still_finishes() {
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 1);
        let p = pool.clone();
        let mut first = Task::new(pool.submit(async move {
            common::PendingOnce::default().await;
            let size = p.resize(0);
            p.pause();
            p.abort();
            (size, p.is_paused(), p.is_closed())
        }));
        first.assert_pending();
        let mut waiters: Vec<_> = (0..3)
            .map(|_| {
                let mut t = Task::new(pool.submit(async {}));
                t.assert_pending();
                t
            })
            .collect();
        // Hand-polled: a deadlock would hang this thread inside the poll,
        // so the poll runs under a watchdog thread that fails the test.
        let watchdog = Watchdog::arm(Duration::from_secs(10));
        let out = (
            first.assert_ready(),
            waiters
                .iter_mut()
                .map(|w| w.assert_ready())
                .collect::<Vec<_>>(),
        );
        watchdog.disarm();
        assert_eq!(out.0, Ok((0, true, true)), "{kind:?}/{order:?}");
        assert_eq!(out.1, vec![Err(Rejected::Closed); 3]);
        let s = pool.stats();
        assert_eq!((s.completed, s.rejected_for(Rejected::Closed)), (1, 3));
        assert_eq!(s.in_flight(), 0);
        assert_accounted(&s);
    }
}

/// A watchdog for code that cannot move to another thread: aborts the
/// process (failing the run) if not disarmed in time. Dropped (disarmed)
/// when the test ends, by returning or by a failed assertion's unwinding.
struct Watchdog(Arc<AtomicBool>);
impl Watchdog {
    fn arm(limit: Duration) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !d.load(Ordering::SeqCst) {
                if start.elapsed() > limit {
                    eprintln!("watchdog: hung for more than {limit:?}");
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Watchdog(done)
    }
    fn disarm(self) {}
}
impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A waker that counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);
impl std::task::Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The `Future` contract every cancel-safe call keeps: a waiting call
/// polled again with another waker (its task moved) is woken through the
/// newest one at hand-off — on all six pools, for `submit` and `acquire`.
#[test]
fn a_waiter_polled_with_a_new_waker_is_woken_through_it() {
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 1);
        let meter = Meter::default();
        let (body, gate) = held(&meter, 0);
        let mut holder = Task::new(pool.submit(body));
        holder.assert_pending();
        let mut call = Box::pin(pool.submit(async { 1 }));
        let mut permit = Box::pin(pool.acquire());
        let (a, b) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let (wa, wb) = (
            std::task::Waker::from(a.clone()),
            std::task::Waker::from(b.clone()),
        );
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(&wa))
            .is_pending());
        assert!(permit
            .as_mut()
            .poll(&mut Context::from_waker(&wa))
            .is_pending());
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(&wb))
            .is_pending());
        assert!(permit
            .as_mut()
            .poll(&mut Context::from_waker(&wb))
            .is_pending());
        gate.store(1, Ordering::SeqCst);
        assert_eq!(holder.assert_ready(), Ok(0));
        assert_eq!(
            b.0.load(Ordering::SeqCst),
            1,
            "{kind:?}/{order:?}: the newest waker"
        );
        // The call joined first: FIFO and priority (equal weights) admit
        // it first, LIFO the permit; the other is then woken through b.
        let mut cx = Context::from_waker(&wb);
        if order == Order::Lifo {
            assert!(
                call.as_mut().poll(&mut cx).is_pending(),
                "LIFO: the permit is first"
            );
            let Poll::Ready(p) = permit.as_mut().poll(&mut cx) else {
                panic!("{kind:?}: the permit was handed the slot");
            };
            drop(p.unwrap());
            assert_eq!(b.0.load(Ordering::SeqCst), 2, "{kind:?}/{order:?}");
            assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
        } else {
            assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
            assert_eq!(b.0.load(Ordering::SeqCst), 2, "{kind:?}/{order:?}");
            let Poll::Ready(p) = permit.as_mut().poll(&mut cx) else {
                panic!("{kind:?}/{order:?}: the permit was handed the slot");
            };
            drop(p.unwrap());
        }
        assert!(
            b.0.load(Ordering::SeqCst) >= 2,
            "the second hand-off wakes b too"
        );
    }
}

/// `sync_barging` at its extreme bound, `Duration::MAX` (the docs: "a
/// zero bound is off"; nothing caps it): a barging thread waits outside the
/// queue, but "a slot that frees while calls are queued goes to the queue";
/// once nobody is queued it takes the freed slot; "a close leaves it
/// waiting", "an abort turns it away"; and "its time outside counts against
/// the timeout", so a zero admission timeout turns it away at once.
#[test]
fn a_sync_caller_barging_for_duration_max_keeps_every_documented_rule() {
    // Calls on this thread that must not wait: a hang fails the run.
    let watchdog = Watchdog::arm(Duration::from_secs(60));
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder()
            .order(order)
            .size(1)
            .sync_barging(Duration::MAX)
            .build()
            .unwrap();
        assert_eq!(pool.sync_barging(), Some(Duration::MAX));
        let log = Arc::new(Mutex::new(Vec::new()));
        let permit = pool.try_acquire().unwrap();
        let (p, l) = (pool.clone(), log.clone());
        let barger = std::thread::spawn(move || p.run(|| l.lock().unwrap().push("sync")));
        wait_until("the barging caller waits", || pool.stats().waiting == 1);
        let l = log.clone();
        let mut queued = Task::new(pool.submit_weighted(i64::MAX, async move {
            l.lock().unwrap().push("async");
        }));
        queued.assert_pending();
        assert_eq!(pool.stats().waiting, 2);
        drop(permit);
        assert!(
            queued.is_woken(),
            "{order:?}: the freed slot goes to the queue"
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            log.lock().unwrap().is_empty(),
            "{order:?}: the barger took a queued call's slot"
        );
        assert_eq!(queued.assert_ready(), Ok(()));
        let r = within(Duration::from_secs(10), move || barger.join().unwrap());
        assert_eq!(r, Ok(()));
        assert_eq!(*log.lock().unwrap(), ["async", "sync"], "{order:?}");
        // Close leaves a barging caller waiting; abort turns it away.
        let permit = pool.try_acquire().unwrap();
        let (p, l) = (pool.clone(), log.clone());
        let barger = std::thread::spawn(move || p.run(|| l.lock().unwrap().push("late")));
        wait_until("the barging caller waits", || pool.stats().waiting == 1);
        pool.close();
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !barger.is_finished(),
            "{order:?}: close turned a waiter away"
        );
        pool.abort();
        let r = within(Duration::from_secs(10), move || barger.join().unwrap());
        assert_eq!(r, Err(Rejected::Closed), "{order:?}");
        drop(permit);
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::Closed)),
            (4, 1),
            "{order:?}: {s:?}"
        );
        assert_accounted(&s);
        // A zero admission timeout: turned away at once, never run.
        let pool = Pool::builder()
            .order(order)
            .size(1)
            .sync_barging(Duration::MAX)
            .admission_timeout(Duration::ZERO)
            .build()
            .unwrap();
        let permit = pool.try_acquire().unwrap();
        let p = pool.clone();
        let r = within(Duration::from_secs(10), move || p.run(|| "ran"));
        assert_eq!(r, Err(Rejected::TimedOut), "{order:?}");
        drop(permit);
        assert_eq!(pool.run(|| "ran"), Ok("ran"));
    }
    watchdog.disarm();
}

/// What the wakers of the blocking-waker test report.
#[derive(Debug, PartialEq)]
enum Woken {
    /// The blocking waker was called and blocks now.
    SlowBlocks,
    /// The blocking waker returned (once the test let it).
    SlowReturned,
    /// The other waker was called.
    Fast,
}

/// A waker that reports; a slow one (with a `release`) blocks its thread
/// at its first wake (a sync call into a full pool, say) until `release`
/// says so.
struct GatedWake {
    release: Option<Mutex<Option<std::sync::mpsc::Receiver<()>>>>,
    tx: std::sync::mpsc::Sender<Woken>,
}
impl std::task::Wake for GatedWake {
    fn wake(self: Arc<Self>) {
        let Some(release) = &self.release else {
            let _ = self.tx.send(Woken::Fast);
            return;
        };
        if let Some(release) = release.lock().unwrap().take() {
            let _ = self.tx.send(Woken::SlowBlocks);
            // (Bounded only so that a failed test ends.)
            let _ = release.recv_timeout(Duration::from_secs(30));
            let _ = self.tx.send(Woken::SlowReturned);
        }
    }
}

/// README, *Timeouts*: "the wakers of the calls it times out are woken on
/// threads of their own…: a waker that blocks there… holds up no other
/// timeout". A call whose waker blocks times out at 20 ms; a call of
/// another pool timing out at 60 ms is still woken while the first waker
/// blocks.
///
/// The first waker blocks until the second was woken (it blocked 1 s, and
/// the second had to be woken within 700 ms: a loaded machine can take
/// that long, and a waker that is held up is never woken here, however
/// long the test waits).
#[test]
fn a_waker_that_blocks_on_the_timer_thread_holds_up_no_other_timeout() {
    let (tx, rx) = std::sync::mpsc::channel();
    let slow_pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    let other_pool = Pool::builder()
        .order(Order::Lifo)
        .size(1)
        .admission_timeout(Duration::from_millis(60))
        .build()
        .unwrap();
    let _p1 = slow_pool.try_acquire().unwrap();
    let _p2 = other_pool.try_acquire().unwrap();
    let (release, released) = std::sync::mpsc::channel();
    let slow_waker = std::task::Waker::from(Arc::new(GatedWake {
        release: Some(Mutex::new(Some(released))),
        tx: tx.clone(),
    }));
    let fast_waker = std::task::Waker::from(Arc::new(GatedWake { release: None, tx }));
    let mut slow = Box::pin(slow_pool.submit(async {}));
    let mut fast = Box::pin(other_pool.submit(async {}));
    assert!(slow
        .as_mut()
        .poll(&mut Context::from_waker(&slow_waker))
        .is_pending());
    assert!(fast
        .as_mut()
        .poll(&mut Context::from_waker(&fast_waker))
        .is_pending());
    // Both wakers are called, the first blocking all the while: a 10 s
    // bound on each (a held-up waker is never called before the release).
    let mut woken = Vec::new();
    while woken.len() < 2 {
        woken.push(
            rx.recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("the 60 ms timeout was held up: {woken:?}")),
        );
    }
    woken.sort_by_key(|w| format!("{w:?}"));
    assert_eq!(woken, [Woken::Fast, Woken::SlowBlocks]);
    assert_eq!(
        fast.as_mut().poll(&mut Context::from_waker(&fast_waker)),
        Poll::Ready(Err(Rejected::TimedOut))
    );
    release.send(()).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(Woken::SlowReturned)
    );
    assert_eq!(
        slow.as_mut().poll(&mut Context::from_waker(&slow_waker)),
        Poll::Ready(Err(Rejected::TimedOut))
    );
    for pool in [&slow_pool, &other_pool] {
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1, "{s:?}");
        assert_eq!(s.waiting, 0);
    }
}

/// `shutdown`'s *Cancel safety*: "Dropping the future leaves the pool
/// closed (and, past the deadline, its queue aborted); nothing else
/// happens." A shutdown with a 30 ms deadline dropped before it passes:
/// the pool is closed, and 100 ms later its waiters still wait (no
/// deadline of the dropped shutdown turns them away); they run once the
/// slot frees, and the pool drains.
#[test]
fn a_shutdown_dropped_before_its_deadline_leaves_the_queue_alone() {
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 1);
        let meter = Meter::default();
        let (body, gate) = held(&meter, 0);
        let mut running = Task::new(pool.submit(body));
        running.assert_pending();
        let mut waiters: Vec<_> = (1..=2)
            .map(|i| {
                let (body, g) = held(&meter, i);
                g.store(1, Ordering::SeqCst);
                let mut t = Task::new(pool.submit(body));
                t.assert_pending();
                t
            })
            .collect();
        {
            let mut shutdown = Task::new(pool.shutdown(Some(Duration::from_millis(30))));
            shutdown.assert_pending();
        }
        assert!(pool.is_closed(), "{kind:?}/{order:?}");
        std::thread::sleep(Duration::from_millis(100));
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (1, 2), "{kind:?}/{order:?}: {s:?}");
        assert_eq!(s.rejected_total(), 0, "{kind:?}/{order:?}: {s:?}");
        for w in waiters.iter_mut() {
            w.assert_pending();
        }
        gate.store(1, Ordering::SeqCst);
        assert_eq!(running.assert_ready(), Ok(0));
        let mut outs = Vec::new();
        for _ in 0..2 {
            let i = (0..waiters.len())
                .find(|&i| waiters[i].is_woken())
                .expect("a freed slot wakes a waiter");
            outs.push(waiters.remove(i).assert_ready().unwrap());
        }
        outs.sort_unstable();
        assert_eq!(outs, [1, 2]);
        let p = pool.clone();
        within(Duration::from_secs(10), move || {
            futures::executor::block_on(p.drained())
        });
        assert_accounted(&pool.stats());
    }
}

/// An admission timeout racing a hand-off, on real threads, 300 times per
/// pool: a holder releases its slot at about the moment its waiter's 1 ms
/// timeout passes. Either outcome is allowed ("give up, unless admitted
/// meanwhile"), but the slot is never lost or doubled: afterwards the pool
/// is empty, a `try_acquire` succeeds, and each round's outcome is counted
/// once.
#[test]
fn an_admission_timeout_racing_a_hand_off_never_loses_the_slot() {
    within(Duration::from_secs(40), || {
        for (kind, order) in SIX {
            let pool = pool_of(kind, order, 1);
            pool.set_admission_timeout(Some(Duration::from_millis(1)));
            let (mut ran, mut timed_out) = (0u64, 0u64);
            for round in 0..300u64 {
                let permit = pool.try_acquire_owned(0).unwrap();
                let hold = Duration::from_micros(700 + (round * 37) % 600);
                let releaser = std::thread::spawn(move || {
                    let start = std::time::Instant::now();
                    while start.elapsed() < hold {
                        std::hint::spin_loop();
                    }
                    drop(permit);
                });
                match futures::executor::block_on(pool.submit(async {})) {
                    Ok(()) => ran += 1,
                    Err(Rejected::TimedOut) => timed_out += 1,
                    Err(other) => panic!("unexpected {other:?}"),
                }
                releaser.join().unwrap();
                let s = pool.stats();
                assert_eq!(
                    (s.running, s.waiting),
                    (0, 0),
                    "{kind:?}/{order:?} round {round}: {s:?}"
                );
                drop(
                    pool.try_acquire()
                        .unwrap_or_else(|r| panic!("round {round}: slot lost ({r:?})")),
                );
            }
            if std::env::var_os("ROUND44_TRACE").is_some() {
                eprintln!("{kind:?}/{order:?}: ran {ran}, timed out {timed_out}");
            }
            let s = pool.stats();
            assert_eq!(s.completed, ran + 300 * 2, "{kind:?}/{order:?}: {s:?}");
            assert_eq!(s.rejected_for(Rejected::TimedOut), timed_out, "{s:?}");
            assert_eq!(s.cancelled, 0, "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// `sync_barging` with a waiting bound and a timeout: "A call waiting
/// outside the queue is a waiting call: it counts in… `max_waiting`…; the
/// waiting bound and the admission timeout that judge it are those in
/// force then (its time outside counts against the timeout, and it is not
/// turned away `Full` as it moves into the queue)". With a bound of 1, a
/// barging thread fills it (an async newcomer is `Full`), then moves into
/// the queue past its 30 ms without being turned away, and runs when the
/// slot frees. With a 20 ms timeout and a 500 ms barging bound, it is
/// timed out well before 500 ms.
#[test]
fn a_barging_caller_fills_the_waiting_bound_moves_into_the_queue_and_times_out_in_time() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder()
            .order(order)
            .size(1)
            .max_waiting(1)
            .sync_barging(Duration::from_millis(30))
            .build()
            .unwrap();
        let permit = pool.try_acquire().unwrap();
        let p = pool.clone();
        let barger = std::thread::spawn(move || p.run(|| "ran"));
        wait_until("the barging caller waits", || pool.stats().waiting == 1);
        assert_eq!(
            Task::new(pool.submit(async {})).assert_ready(),
            Err(Rejected::Full),
            "{order:?}: the barging caller counts against the bound"
        );
        // Past its barging bound it queues (not turned away `Full`).
        std::thread::sleep(Duration::from_millis(80));
        assert!(!barger.is_finished(), "{order:?}: turned away as it queued");
        assert_eq!(pool.stats().waiting, 1);
        drop(permit);
        let r = within(Duration::from_secs(10), move || barger.join().unwrap());
        assert_eq!(r, Ok("ran"), "{order:?}");
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::Full)),
            (2, 1),
            "{order:?}: {s:?}"
        );
        assert_accounted(&s);
        // The time outside counts against the admission timeout.
        let pool = Pool::builder()
            .order(order)
            .size(1)
            .sync_barging(Duration::from_secs(3))
            .admission_timeout(Duration::from_millis(20))
            .build()
            .unwrap();
        let permit = pool.try_acquire().unwrap();
        let p = pool.clone();
        let start = std::time::Instant::now();
        let r = within(Duration::from_secs(10), move || p.run(|| "ran"));
        let waited = start.elapsed();
        assert_eq!(r, Err(Rejected::TimedOut), "{order:?}");
        assert!(
            waited < Duration::from_secs(2),
            "{order:?}: timed out after {waited:?}, past the 20 ms timeout by the barging bound"
        );
        drop(permit);
        assert_accounted(&pool.stats());
    }
}

/// Checks that a sync call made on this thread now is independent: with
/// the pool's only slot held elsewhere it waits (turned away by a 50 ms
/// timeout, its closure never run) instead of running under a slot some
/// earlier call on this thread once held.
#[track_caller]
fn assert_waits_here(pool: &Pool, what: &str) {
    let before = pool.stats();
    let ran = AtomicBool::new(false);
    let r = pool.run(|| ran.store(true, Ordering::SeqCst));
    assert_eq!(r, Err(Rejected::TimedOut), "{what}: ran as a nested call");
    assert!(!ran.load(Ordering::SeqCst), "{what}");
    let after = pool.stats();
    assert_eq!(after.nested, 0, "{what}: {after:?}");
    assert_eq!(after.completed, before.completed, "{what}: {after:?}");
}

/// The reentrancy rule's other side (`Pool`, *Reentrancy*): only work that
/// *holds* a slot lends it — "one nested call at a time uses its parent's
/// slot… only while the parent holds it". A thread whose earlier calls
/// ended (returned, or panicked and were caught: sync, async and permit
/// forms) keeps no slot to lend: a later call on it, with the only slot
/// held by another thread, waits like any other. So does a reused
/// blocking thread (below).
#[test]
fn a_thread_keeps_no_slot_from_calls_that_ended_or_panicked_on_it() {
    common::quiet_planned_panics();
    within(Duration::from_secs(30), || {
        for (kind, order) in SIX {
            let pool = pool_of(kind, order, 1);
            pool.set_admission_timeout(Some(Duration::from_millis(50)));
            // Earlier calls on this thread, each ended.
            assert_eq!(pool.run(|| 1), Ok(1));
            let r = catch_unwind(AssertUnwindSafe(|| {
                pool.run(|| panic!("planned: a sync body panics"))
            }));
            assert!(r.is_err());
            let r = catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(pool.submit(async {
                    panic!("planned: an async body panics");
                }))
            }));
            assert!(r.is_err());
            let r = catch_unwind(AssertUnwindSafe(|| {
                let _permit = futures::executor::block_on(pool.acquire()).unwrap();
                panic!("planned: a permit holder panics");
            }));
            assert!(r.is_err());
            // A nested sync call inside a sync call that then ended.
            assert_eq!(pool.run(|| pool.run(|| 2)), Ok(Ok(2)));
            let s = pool.stats();
            assert_eq!((s.running, s.nested, s.panicked), (0, 0, 3), "{s:?}");
            // The only slot held by another thread.
            let (held_tx, held_rx) = std::sync::mpsc::channel();
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let p = pool.clone();
            let holder = std::thread::spawn(move || {
                p.run(|| {
                    held_tx.send(()).unwrap();
                    let _ = release_rx.recv_timeout(Duration::from_secs(10));
                })
            });
            held_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_waits_here(&pool, &format!("{kind:?}/{order:?}"));
            release_tx.send(()).unwrap();
            assert_eq!(holder.join().unwrap(), Ok(()));
            assert_accounted(&pool.stats());
        }
    });
    a_reused_blocking_thread_keeps_no_slot_from_earlier_closures();
}

/// (Part of `a_thread_keeps_no_slot_from_calls_that_ended_or_panicked_on_it`.)
/// As above for blocking work: a blocking thread (tokio's, one thread so it
/// is reused) that ran a pool's blocking closure — one that returned and
/// one that panicked — keeps no slot: unrelated `spawn_blocking` work on
/// that same thread, calling the pool while its only slot is held, waits.
fn a_reused_blocking_thread_keeps_no_slot_from_earlier_closures() {
    // Calls on this thread that must not wait: a hang fails the run.
    let watchdog = Watchdog::arm(Duration::from_secs(60));
    common::quiet_planned_panics();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for (kind, order) in SIX {
            let pool = pool_of(kind, order, 1);
            pool.set_admission_timeout(Some(Duration::from_millis(50)));
            let id = pool
                .submit_blocking(|| std::thread::current().id())
                .await
                .unwrap();
            let p = pool.clone();
            let r = tokio::spawn(async move {
                p.submit_blocking(|| panic!("planned: a blocking closure panics"))
                    .await
            })
            .await;
            assert!(r.unwrap_err().is_panic());
            let permit = pool.acquire_owned(0).await.unwrap();
            let p = pool.clone();
            let what = format!("{kind:?}/{order:?}");
            let same = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::task::spawn_blocking(move || {
                    assert_waits_here(&p, &what);
                    std::thread::current().id()
                }),
            )
            .await
            .expect("hung")
            .unwrap();
            assert_eq!(same, id, "tokio reused its one blocking thread");
            drop(permit);
            let s = pool.stats();
            assert_eq!((s.completed, s.panicked, s.nested), (3, 1, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
    watchdog.disarm();
}

/// What needs the `tokio` feature: `Pool::spawn` and `TokioClock`.
#[cfg(feature = "tokio")]
mod on_tokio {
    use super::*;
    use pool_runtime::TokioClock;

    /// The seed's `submit(…, blocking=False)` (DESIGN §2: "a non-blocking
    /// form that returns a handle"), `SpawnHandle`'s *Cancel safety*:
    /// "Dropping the handle detaches the call (it still runs); use `abort`
    /// to cancel it, which frees its queue position" — on all six pools:
    /// ten spawned calls on two slots, four handles dropped, one aborted
    /// while queued; nine bodies run, never more than two at once.
    #[test]
    fn spawned_calls_detach_when_dropped_and_leave_the_queue_when_aborted() {
        let rt = common::runtime();
        rt.block_on(async {
            for (kind, order) in SIX {
                let pool = pool_of(kind, order, 2);
                let meter = Meter::default();
                let mut handles: Vec<_> = (0..10)
                    .map(|_| pool.spawn(meter.clone().body(15)).unwrap())
                    .collect();
                let last = handles.pop().unwrap();
                last.abort();
                let out = tokio::time::timeout(Duration::from_secs(10), last)
                    .await
                    .expect("hung");
                assert_eq!(out, Err(Rejected::Closed), "{kind:?}/{order:?}");
                let detached = handles.split_off(5);
                drop(detached);
                for h in handles {
                    let out = tokio::time::timeout(Duration::from_secs(10), h)
                        .await
                        .expect("hung");
                    assert_eq!(out, Ok(()), "{kind:?}/{order:?}");
                }
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                // Until the detached calls ended and left (`Stats`: the
                // fields add up "taken while nothing enters or leaves the
                // pool"; a call is counted completed just before its slot
                // is freed).
                while pool.stats().completed < 9 || pool.stats().in_flight() > 0 {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{kind:?}/{order:?}: detached calls did not run: {:?}",
                        pool.stats()
                    );
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let s = pool.stats();
                assert_eq!(
                    (s.completed, s.cancelled),
                    (9, 1),
                    "{kind:?}/{order:?}: {s:?}"
                );
                assert_eq!(s.in_flight(), 0);
                assert_accounted(&s);
                assert_eq!(meter.done(), 9);
                assert!(meter.max() <= 2);
            }
        });
    }

    /// `admission_timeout`: "Turns a call away with `TimedOut` once it has
    /// waited this long for a slot. Time spent running is not limited", on
    /// tokio's paused time (`TokioClock`): one slot held 100 ms, two
    /// waiters with a 150 ms timeout; the one the order admits first runs at
    /// 100 ms (and runs 500 ms, past its timeout, unharmed), the other is
    /// turned away at exactly 150 ms — on all six pools.
    #[tokio::test(start_paused = true)]
    async fn on_tokio_time_the_first_waiter_runs_and_the_second_times_out_at_the_deadline() {
        for (kind, order) in SIX {
            let b = Pool::builder()
                .kind(kind)
                .order(order)
                .size(1)
                .clock(TokioClock::new())
                .admission_timeout(Duration::from_millis(150));
            let b = if kind == Kind::Autoscale {
                b.min(1).max(1)
            } else {
                b
            };
            let pool = b.build().unwrap();
            let meter = Meter::default();
            let start = tokio::time::Instant::now();
            let at = |r: Result<(), Rejected>| (r, start.elapsed());
            let (holder, first, second) = tokio::time::timeout(Duration::from_secs(60), async {
                tokio::join!(
                    async { at(pool.submit(meter.clone().body(100)).await) },
                    async { at(pool.submit(meter.clone().body(500)).await) },
                    async { at(pool.submit(meter.clone().body(500)).await) },
                )
            })
            .await
            .expect("hung");
            assert_eq!(holder, (Ok(()), Duration::from_millis(100)));
            let ms = Duration::from_millis;
            let (ran, timed_out) = if order == Order::Lifo {
                (second, first)
            } else {
                (first, second)
            };
            assert_eq!(ran, (Ok(()), ms(600)), "{kind:?}/{order:?}");
            assert_eq!(
                timed_out,
                (Err(Rejected::TimedOut), ms(150)),
                "{kind:?}/{order:?}"
            );
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.rejected_for(Rejected::TimedOut)),
                (2, 1),
                "{s:?}"
            );
            assert_accounted(&s);
            assert_eq!(meter.max(), 1);
        }
    }
}

/// The reentrancy rule (`Pool`, *Reentrancy*) against a scale-down: "one
/// nested call at a time uses its parent's slot; the others wait in the
/// queue for a free slot or for that slot to come back, whichever comes
/// first" — the slot is the parent's, so it comes back to the second nested
/// call even after the pool was scaled to 0 (and ahead of an outside call
/// queued before it), so the parent finishes; the outside call then waits
/// for a scale-up, and the server never sees more than one body.
#[test]
fn a_nested_call_gets_its_parents_slot_back_even_after_a_scale_to_zero() {
    for (kind, order) in SIX {
        let pool = pool_of(kind, order, 1);
        let meter = Meter::default();
        let (b1, g1) = held(&meter, 1);
        let (b2, g2) = held(&meter, 2);
        g2.store(1, Ordering::SeqCst);
        let p = pool.clone();
        let mut parent = Task::new(pool.submit(async move {
            common::PendingOnce::default().await;
            futures::join!(p.submit(b1), p.submit(b2))
        }));
        parent.assert_pending();
        let (bw, gw) = held(&meter, 9);
        gw.store(1, Ordering::SeqCst);
        let mut outside = Task::new(pool.submit(bw));
        outside.assert_pending();
        parent.assert_pending();
        let s = pool.stats();
        assert_eq!(
            (s.running, s.nested, s.waiting),
            (1, 1, 2),
            "{kind:?}/{order:?}: {s:?}"
        );
        assert_eq!(pool.resize(0), 0);
        g1.store(1, Ordering::SeqCst);
        assert_eq!(
            parent.assert_ready(),
            Ok((Ok(1), Ok(2))),
            "{kind:?}/{order:?}: the second nested call got the slot back"
        );
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 1), "{s:?}");
        assert!(!outside.is_woken(), "{kind:?}/{order:?}: no slot at size 0");
        outside.assert_pending();
        assert_eq!(pool.resize(1), 1);
        assert!(outside.is_woken());
        assert_eq!(outside.assert_ready(), Ok(9));
        let s = pool.stats();
        assert_eq!(s.completed, 4, "{s:?}");
        assert_accounted(&s);
        assert_eq!(meter.max(), 1, "{kind:?}/{order:?}");
    }
}

/// The reentrancy rule with cancellation and panics: a nested call running
/// under its parent's slot that is dropped (cancelled) or panics (caught by
/// the parent) gives the slot back to the parent at once, and the nested
/// call waiting for it takes it — the parent finishes on its first poll
/// after, never waiting for a slot it holds itself; on all six pools.
#[test]
fn a_cancelled_or_panicking_nested_call_gives_the_slot_back_to_its_sibling() {
    use futures::FutureExt;
    common::quiet_planned_panics();
    for (kind, order) in SIX {
        for panics in [false, true] {
            let pool = pool_of(kind, order, 1);
            let meter = Meter::default();
            let (b1, g1) = held(&meter, 1);
            let (b2, g2) = held(&meter, 2);
            g2.store(1, Ordering::SeqCst);
            let p = pool.clone();
            let step = Arc::new(AtomicU8::new(0));
            let st = step.clone();
            let mut parent = Task::new(pool.submit(async move {
                let mut n1 = Box::pin(p.submit(b1));
                let mut n2 = Box::pin(p.submit(b2));
                // Both polled: the first runs under the slot, the second waits.
                std::future::poll_fn(|cx| {
                    assert!(n1.as_mut().poll(cx).is_pending());
                    assert!(n2.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                common::PendingOnce::default().await;
                if st.load(Ordering::SeqCst) == 1 {
                    let caught = AssertUnwindSafe(n1).catch_unwind().await;
                    assert!(caught.is_err(), "the nested call panicked");
                } else {
                    drop(n1);
                }
                n2.await
            }));
            parent.assert_pending();
            let s = pool.stats();
            assert_eq!((s.running, s.nested, s.waiting), (1, 1, 1), "{s:?}");
            if panics {
                step.store(1, Ordering::SeqCst);
                g1.store(2, Ordering::SeqCst);
            }
            assert_eq!(
                parent.assert_ready(),
                Ok(Ok(2)),
                "{kind:?}/{order:?} panics={panics}"
            );
            let s = pool.stats();
            assert_eq!(s.in_flight(), 0, "{s:?}");
            if panics {
                assert_eq!((s.completed, s.panicked, s.cancelled), (3, 1, 0), "{s:?}");
            } else {
                assert_eq!((s.completed, s.panicked, s.cancelled), (2, 0, 1), "{s:?}");
            }
            assert_accounted(&s);
            assert_eq!(meter.max(), 1);
            assert_eq!(meter.now(), 0);
        }
    }
}

/// `set_bounds`: "Changes the bounds of an autoscaled pool (the size is
/// clamped into them)", and the autoscaler "moves the limit within `[min,
/// max]`" — raced: an autoscaler evaluating every 300 µs under six threads
/// of sync callers while the bounds flip between `[1, 2]` and `[3, 6]` 300
/// times. After each `set_bounds` returns, `size()` and `bounds()` are
/// within the new bounds on every read, and once running has come down to
/// 2 under `[1, 2]` no more than 2 bodies are inside (counted from outside)
/// until the bounds widen again.
#[test]
fn an_evaluating_autoscaler_racing_set_bounds_keeps_the_new_bounds() {
    within(Duration::from_secs(40), || {
        for order in [Order::Lifo, Order::Priority] {
            let pool = Pool::builder()
                .kind(Kind::Autoscale)
                .order(order)
                .min(1)
                .max(6)
                .autoscale_interval(Duration::from_micros(300))
                .autoscale_window(2)
                .build()
                .unwrap();
            let meter = Meter::default();
            let stop = Arc::new(AtomicBool::new(false));
            let strict = Arc::new(AtomicBool::new(false));
            let violations = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..6)
                .map(|_| {
                    let (pool, meter, stop, strict, violations) = (
                        pool.clone(),
                        meter.clone(),
                        stop.clone(),
                        strict.clone(),
                        violations.clone(),
                    );
                    std::thread::spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            let r = pool.run(|| {
                                let _inside = meter.enter();
                                // Strict before and after the count: the
                                // bounds were [1, 2] throughout. Counted as
                                // the body starts and as it ends.
                                let check = || {
                                    let before = strict.load(Ordering::SeqCst);
                                    let now = meter.now();
                                    if before && now > 2 && strict.load(Ordering::SeqCst) {
                                        violations.fetch_add(1, Ordering::SeqCst);
                                    }
                                };
                                check();
                                std::thread::sleep(Duration::from_micros(150));
                                check();
                            });
                            assert_eq!(r, Ok(()));
                        }
                    })
                })
                .collect();
            let mut bad = Vec::new();
            for round in 0..300 {
                let (lo, hi) = if round % 2 == 0 { (1, 2) } else { (3, 6) };
                strict.store(false, Ordering::SeqCst);
                pool.set_bounds(lo, hi).unwrap();
                if hi == 2 {
                    wait_until("running is within the new bounds", || {
                        pool.stats().running <= 2
                    });
                    strict.store(true, Ordering::SeqCst);
                }
                for _ in 0..10 {
                    let (n, b) = (pool.size(), pool.bounds());
                    if n < lo || n > hi || b != (lo, hi) {
                        bad.push((round, (lo, hi), n, b));
                    }
                    std::thread::sleep(Duration::from_micros(60));
                }
            }
            strict.store(false, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
            for t in threads {
                t.join().unwrap();
            }
            assert!(bad.is_empty(), "{order:?}: {:?}", &bad[..bad.len().min(10)]);
            assert_eq!(violations.load(Ordering::SeqCst), 0, "{order:?}");
            assert!(meter.max() <= 6, "{order:?}: {}", meter.max());
            let s = pool.stats();
            assert_eq!(
                (s.running, s.waiting, s.rejected_total()),
                (0, 0, 0),
                "{s:?}"
            );
            assert_accounted(&s);
        }
    });
}
