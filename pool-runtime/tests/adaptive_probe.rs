//! The adaptive policy's probe below the limit, through a real pool on a
//! manual clock: a server model answers each admitted call after a latency
//! drawn for it, and the clock jumps from one answer to the next.

mod common;

use common::{assert_accounted, Meter, Task};
use futures::channel::oneshot;
use pool_runtime::{AdaptiveSettings, Kind, ManualClock, Pool, ScalePolicy, Verdict};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

type Call<'a> = Task<Pin<Box<dyn Future<Output = Result<(), pool_runtime::Rejected>> + 'a>>>;

/// A call in flight: its future, when the pool admitted it (once it has),
/// when the server answers it (once drawn), and the answer's sender.
struct InFlight<'a> {
    task: Call<'a>,
    admitted: Rc<Cell<Option<Duration>>>,
    answer_at: Option<Duration>,
    answer: Option<oneshot::Sender<()>>,
}

/// The pool, its clock, and the server: lognormal latency (sigma 0.5)
/// around `median` (seconds), the same draws every run.
struct Bench<'a> {
    pool: &'a Pool,
    clock: ManualClock,
    meter: Meter,
    calls: Vec<InFlight<'a>>,
    draws: u64,
    median: f64,
    /// The log-latencies drawn so far (the floor the pool learns from them).
    logs: Vec<f64>,
    /// Bodies running at the last look.
    running: usize,
}

impl<'a> Bench<'a> {
    fn uniform(&mut self) -> f64 {
        let x = &mut self.draws;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        ((*x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn latency(&mut self) -> Duration {
        let normal = (-2.0 * self.uniform().ln()).sqrt()
            * (2.0 * std::f64::consts::PI * self.uniform()).cos();
        let seconds = self.median * (0.5 * normal).exp();
        self.logs.push(seconds.ln());
        Duration::from_secs_f64(seconds)
    }

    fn submit(&mut self) {
        let (tx, rx) = oneshot::channel::<()>();
        let admitted = Rc::new(Cell::new(None));
        let (seen, clock, inside) = (admitted.clone(), self.clock.clone(), self.meter.clone());
        let work = async move {
            use pool_runtime::Clock;
            seen.set(Some(clock.now()));
            let _inside = inside.enter();
            let _ = rx.await;
        };
        let task: Call<'a> = Task::new(Box::pin(
            self.pool.submit_judged(0, work, |_| Verdict::Success),
        ));
        self.calls.push(InFlight {
            task,
            admitted,
            answer_at: None,
            answer: Some(tx),
        });
        self.poll_all();
    }

    /// Polls every call; the finished leave; the newly admitted draw their
    /// answer's time.
    fn poll_all(&mut self) {
        let mut i = 0;
        while i < self.calls.len() {
            if self.calls[i].task.poll().is_ready() {
                self.calls.swap_remove(i);
                continue;
            }
            if let (Some(at), None) = (self.calls[i].admitted.get(), self.calls[i].answer_at) {
                let latency = self.latency();
                self.calls[i].answer_at = Some(at + latency);
            }
            i += 1;
        }
        // Counted from outside: a call admitted now is within the limit
        // (a limit lowered lets the calls above it finish), and every body
        // running holds one of the pool's running slots.
        let (now, s) = (self.meter.now(), self.pool.stats());
        if now > self.running {
            assert!(now <= self.pool.size(), "{now} running, {s:?}");
        }
        self.running = now;
        assert!(now <= s.running, "{now} running from outside, {s:?}");
    }

    /// Answers the call the server answers first, the clock moved to then.
    fn answer_next(&mut self) {
        let next = (0..self.calls.len())
            .filter(|&i| self.calls[i].answer_at.is_some())
            .min_by_key(|&i| self.calls[i].answer_at)
            .expect("a call in flight");
        let at = self.calls[next].answer_at.expect("drawn");
        use pool_runtime::Clock;
        let now = self.clock.now();
        self.clock.advance(at.saturating_sub(now));
        let _ = self.calls[next].answer.take().expect("once").send(());
        self.poll_all();
    }

    /// `n` calls, the pool kept full with `extra` calls waiting (none
    /// waiting, one call at a time, with `extra` 0 and `one_at_a_time`).
    fn run(&mut self, n: usize, extra: usize, one_at_a_time: bool, mut each: impl FnMut(&Self)) {
        for _ in 0..n {
            let target = if one_at_a_time {
                1
            } else {
                self.pool.size() + extra
            };
            while self.calls.len() < target {
                self.submit();
            }
            self.answer_next();
            each(self);
        }
    }
}

/// The scenario of the tests below up to the probe: 20 idle calls set the
/// floor, then a backlog that never lets up (the pool full, one call
/// waiting) on a server a fifth slower than that floor holds the limit
/// until a probe takes it a quarter below. `then` gets the bench in the
/// probe and the limit held before it; afterwards every call is answered
/// and accounted for.
fn in_a_probe(then: impl FnOnce(&mut Bench<'_>, usize)) {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(100)
        .size(10)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let mut bench = Bench {
        pool: &pool,
        clock,
        meter: Meter::default(),
        calls: Vec::new(),
        draws: 0x5851_f42d_4c95_7f2d,
        median: 0.03,
        logs: Vec::new(),
        running: 0,
    };
    bench.run(20, 0, true, |_| {});
    assert_eq!(pool.size(), 10, "idle: no change");
    let floor = bench.logs.iter().sum::<f64>() / bench.logs.len() as f64;
    bench.median = floor.exp() * 1.2;
    // Held (at 11 here) until the probe: the limit's first fall.
    let (mut held, mut calls) = (pool.size(), 0);
    while pool.size() >= held {
        held = pool.size();
        bench.run(1, 1, false, |_| {});
        calls += 1;
        assert!(calls < 20_000, "no probe");
    }
    assert_eq!(pool.size(), held * 3 / 4, "a quarter below {held}");
    then(&mut bench, held);
    // Everything answered: every call accounted for.
    pool.resume();
    while !bench.calls.is_empty() {
        if bench.calls.iter().all(|c| c.answer_at.is_none()) {
            panic!("calls waiting with none running: {:?}", pool.stats());
        }
        bench.answer_next();
    }
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
    assert_accounted(&s);
}

#[test]
#[cfg_attr(miri, ignore = "thousands of calls: minutes under Miri")]
fn a_bounds_change_that_leaves_the_limit_during_a_probe_does_not_keep_the_limit_down() {
    // As `a_floor_set_low_under_a_backlog_that_never_lets_up_is_relearned_and_the_limit_grows`
    // (scale/adaptive.rs), through a pool. `set_bounds` that leaves the
    // limit (raising `max`) during the probe: the limit returns when the
    // probe ends, as without it.
    in_a_probe(|bench, held| {
        let probing = bench.pool.size();
        assert_eq!(
            bench.pool.set_bounds(1, 200),
            Ok(probing),
            "leaves the limit"
        );
        let mut highest = probing;
        bench.run(100, 1, false, |b| highest = highest.max(b.pool.size()));
        assert!(
            highest >= held,
            "back to {held} after the probe: at most {highest}"
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "thousands of calls: minutes under Miri")]
fn a_probe_under_a_lowered_max_returns_within_it() {
    // `max` lowered during the probe to just above the probe's limit (which
    // it leaves): the probe goes on, and the limit it returns to is within
    // the new bounds ("the limit stays within [min, max]").
    in_a_probe(|bench, held| {
        let probing = bench.pool.size();
        let max = probing + 1;
        assert!(max < held);
        assert_eq!(bench.pool.set_bounds(1, max), Ok(probing));
        bench.run(300, 1, false, |b| {
            let size = b.pool.size();
            assert!(size <= max, "{size} above max {max}");
        });
    });
}

#[test]
#[cfg_attr(miri, ignore = "thousands of calls: minutes under Miri")]
fn a_pool_paused_during_a_probe_loses_nothing_and_the_limit_returns_after() {
    // Paused during the probe: new calls are turned away (`Paused`), the
    // calls already waiting or running go on and finish (their windows
    // close under the pause); resumed, the limit is back where it was.
    in_a_probe(|bench, held| {
        bench.pool.pause();
        let submitted = bench.pool.stats().submitted();
        for _ in 0..5 {
            bench.submit();
        }
        while bench.calls.iter().any(|c| c.answer_at.is_some()) {
            bench.answer_next();
        }
        let s = bench.pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(s.submitted(), submitted + 5, "{s:?}");
        assert_eq!(s.rejected_total(), 5, "{s:?}");
        assert!(bench.calls.is_empty());
        assert_accounted(&s);
        bench.pool.resume();
        let mut highest = bench.pool.size();
        bench.run(100, 1, false, |b| highest = highest.max(b.pool.size()));
        assert!(highest >= held, "back to {held}: at most {highest}");
    });
}
