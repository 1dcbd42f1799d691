//! Acceptance tests, round 39 (runtime): the adaptive policy's documented
//! behaviour checked where the docs give numbers — the module docs of
//! `pool-runtime/src/scale/adaptive.rs` (Start, Windows, Drops act at once,
//! Update, `[min, max]`, what is never a drop), the rustdoc of
//! `AdaptiveSettings` (`validate`: the first field out of range; durations
//! that mean "never"), `Pool::submit_judged` (nested calls' overloads) and
//! the README's "Adaptive autoscale" bullet. Every scenario is scripted
//! call by call: a real pool on a `ManualClock`, calls whose work waits for
//! the test to answer them, answered in a chosen order with a chosen
//! verdict after a chosen latency (the clock advanced in between), the
//! limit read after every answer, and the bodies running counted from
//! outside (they never grow past the limit in force).
//!
//! Broken promises found, and what became of them:
//!
//! * a nested call's overload was taken as sent when it ended, so a burst
//!   of them under calls admitted before a cut cascaded 20 → 10 → 5 → 3 → 1:
//!   fixed (a nested call is stamped when it starts;
//!   `nested_overloads_of_calls_admitted_before_a_cut_are_one_cut`);
//! * four places where the docs and the code's deliberate rules disagreed
//!   (a drop too few to cut does not end the start; three drops are judged
//!   before the window fills; the start's four-rounds cap holds at every
//!   limit; drops cut at once, not once per round trip, as the README
//!   said): the docs now state the code's rules, and the tests
//!   (`a_single_drop_in_the_start_holds_the_limit_and_the_start_goes_on`,
//!   `three_drops_are_judged_before_window_samples_calls_are_in`,
//!   `a_start_window_needs_at_most_four_rounds_of_the_limit`,
//!   `drops_cut_at_once_without_waiting_for_a_round_trip`) check them.
#![cfg(not(miri))]

mod common;

use common::{assert_accounted, Meter, Task};
use futures::channel::oneshot;
use pool_runtime::{
    AdaptiveSettings, BuildError, GroupSettings, Kind, ManualClock, Pool, Rejected, ScalePolicy,
    Verdict,
};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

type Fut<'a> = Pin<Box<dyn Future<Output = Result<Verdict, Rejected>> + 'a>>;

/// One call: its future, whether its work started, and the channel that
/// answers it (with the verdict its judge then gives).
struct Call<'a> {
    task: Task<Fut<'a>>,
    admitted: Rc<Cell<bool>>,
    answer: Option<oneshot::Sender<Verdict>>,
    done: bool,
}

/// A pool on a manual clock and the calls the test drives through it.
struct Rig<'a> {
    pool: &'a Pool,
    clock: ManualClock,
    meter: Meter,
    calls: Vec<Call<'a>>,
    turned_away: usize,
    /// Bodies running after the last event.
    running: usize,
    /// Every limit seen after an event.
    trace: Vec<usize>,
    /// Whether the work of each call submits a nested judged call of the
    /// same pool and returns its verdict.
    nested: bool,
}

impl<'a> Rig<'a> {
    fn new(pool: &'a Pool, clock: &ManualClock) -> Self {
        Rig {
            pool,
            clock: clock.clone(),
            meter: Meter::default(),
            calls: Vec::new(),
            turned_away: 0,
            running: 0,
            trace: vec![pool.size()],
            nested: false,
        }
    }

    fn submit(&mut self) {
        let (tx, rx) = oneshot::channel::<Verdict>();
        let admitted = Rc::new(Cell::new(false));
        let seen = admitted.clone();
        let meter = self.meter.clone();
        let pool = self.pool;
        let nested = self.nested;
        let work = async move {
            let _inside = meter.enter();
            seen.set(true);
            let answer = async move { rx.await.unwrap_or(Verdict::Ignore) };
            if nested {
                // The nested call is sent at once and judged by the answer
                // (the parent says nothing about the server).
                let _ = pool.submit_judged(0, answer, |v: &Verdict| *v).await;
                Verdict::Ignore
            } else {
                answer.await
            }
        };
        let task: Task<Fut<'a>> =
            Task::new(Box::pin(self.pool.submit_judged(0, work, |v: &Verdict| *v)));
        self.calls.push(Call {
            task,
            admitted,
            answer: Some(tx),
            done: false,
        });
        self.poll_all();
    }

    /// Polls every call until nothing moves; then checks the bodies running
    /// against the limit in force: more than the limit only if none was
    /// admitted past it (a cut does not interrupt calls already running).
    fn poll_all(&mut self) {
        loop {
            let mut moved = false;
            for call in self.calls.iter_mut().filter(|c| !c.done) {
                if let Poll::Ready(out) = call.task.poll() {
                    call.done = true;
                    moved = true;
                    if out.is_err() {
                        assert!(!call.admitted.get(), "an admitted call was turned away");
                        self.turned_away += 1;
                    }
                }
            }
            self.calls.retain(|c| !c.done);
            if !moved {
                break;
            }
        }
        let (running, limit) = (self.meter.now(), self.pool.size());
        assert!(
            running <= limit.max(self.running),
            "{running} bodies running with a limit of {limit} (and {} before); trace {:?}",
            self.running,
            self.tail()
        );
        let (min, max) = self.pool.bounds();
        assert!(
            (min..=max).contains(&limit),
            "the limit {limit} left [{min}, {max}]"
        );
        self.running = running;
        if self.trace.last() != Some(&limit) {
            self.trace.push(limit);
        }
    }

    fn tail(&self) -> &[usize] {
        &self.trace[self.trace.len().saturating_sub(20)..]
    }

    /// Calls admitted and not yet answered, oldest first.
    fn in_flight(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| c.admitted.get() && c.answer.is_some())
            .count()
    }

    fn waiting(&self) -> usize {
        self.calls.iter().filter(|c| !c.admitted.get()).count()
    }

    /// Calls waiting for a slot, topped up to `backlog`.
    fn top_up(&mut self, backlog: usize) {
        while self.waiting() < backlog {
            let before = self.calls.len() + self.turned_away;
            self.submit();
            // Admitted at once, or waiting, or turned away: one more either way.
            assert_eq!(self.calls.len() + self.turned_away, before + 1);
        }
    }

    /// Submits `n` calls (admitted or not).
    fn add(&mut self, n: usize) {
        for _ in 0..n {
            self.submit();
        }
    }

    /// Answers the oldest admitted call with `verdict`; the limit after.
    fn answer(&mut self, verdict: Verdict) -> usize {
        let call = self
            .calls
            .iter_mut()
            .find(|c| c.admitted.get() && c.answer.is_some())
            .expect("a call in flight");
        let _ = call.answer.take().expect("once").send(verdict);
        self.poll_all();
        self.pool.size()
    }

    /// One round trip: `backlog` calls waiting, the clock advanced by
    /// `latency`, then every call in flight answered (oldest first) with
    /// `verdict(i)`; the limits seen after each answer.
    fn round(
        &mut self,
        latency: Duration,
        backlog: usize,
        mut verdict: impl FnMut(usize) -> Verdict,
    ) -> Vec<usize> {
        self.top_up(backlog);
        self.clock.advance(latency);
        let n = self.in_flight();
        (0..n).map(|i| self.answer(verdict(i))).collect()
    }

    /// Every call in flight answered (`Ignore`), those left waiting
    /// cancelled, and everything accounted for.
    fn finish(mut self) {
        while self.in_flight() > 0 {
            self.answer(Verdict::Ignore);
        }
        self.calls.clear();
        let s = self.pool.stats();
        assert_eq!(s.running, 0, "{s:?}");
        assert_accounted(&s);
    }
}

fn success(_: usize) -> Verdict {
    Verdict::Success
}

fn settings(window_samples: u32, window_time: Duration) -> AdaptiveSettings {
    AdaptiveSettings {
        window_samples,
        window_time,
        ..AdaptiveSettings::DEFAULT
    }
}

fn adaptive(clock: &ManualClock, min: usize, max: usize, size: usize, s: AdaptiveSettings) -> Pool {
    Pool::builder()
        .kind(Kind::Autoscale)
        .min(min)
        .max(max)
        .size(size)
        .scale_policy(ScalePolicy::Adaptive(s))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// The limit after each round (its last answer's).
fn ends(rounds: &[Vec<usize>]) -> Vec<usize> {
    rounds.iter().map(|r| *r.last().unwrap()).collect()
}

/// adaptive.rs "Start. The pool starts where the user says (`size` ...) and
/// doubles its limit every round trip while calls wait for a slot and the
/// server shows no sign of load"; "The limit stays within `[min, max]`".
/// Windows of one call and 100 ms, a server of 100 ms exactly, a backlog:
/// 4 → 8 → 16 → 32 → 50 (`max`), one move per round trip, and never more
/// bodies running than the limit.
#[test]
fn the_start_doubles_exactly_once_per_round_trip_and_stops_at_max() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 50, 4, settings(1, 100 * MS));
    let mut rig = Rig::new(&pool, &clock);
    let rounds: Vec<_> = (0..6).map(|_| rig.round(100 * MS, 60, success)).collect();
    assert_eq!(
        ends(&rounds),
        [8, 16, 32, 50, 50, 50],
        "trace {:?}",
        rig.trace
    );
    for (i, r) in rounds.iter().enumerate() {
        let mut seen = r.clone();
        seen.dedup();
        assert_eq!(seen.len(), 1, "round {i}: more than one move: {r:?}");
    }
    assert_eq!(rig.trace, [4, 8, 16, 32, 50]);
    assert_eq!(rig.meter.max(), 50);
    rig.finish();
}

/// adaptive.rs "Below three slots ... the step is two slots at least
/// (1 → 3)"; README "(from one or two slots, to three at once)". Then it
/// doubles: 1 → 3 → 6 → 12 → 24, and 2 → 4 → 8 → 16 → 32.
#[test]
fn the_start_from_one_or_two_slots_steps_two_then_doubles() {
    for (start, want) in [(1usize, [3usize, 6, 12, 24]), (2, [4, 8, 16, 32])] {
        let clock = ManualClock::new();
        let pool = adaptive(&clock, 1, 64, start, settings(1, 100 * MS));
        let mut rig = Rig::new(&pool, &clock);
        let rounds: Vec<_> = (0..4).map(|_| rig.round(100 * MS, 70, success)).collect();
        assert_eq!(ends(&rounds), want, "start {start}: trace {:?}", rig.trace);
        rig.finish();
    }
}

/// adaptive.rs "Below three slots a window of the start needs at most four
/// rounds of the limit in calls": with `window_samples` 10 (ten round trips
/// at one slot), the start from 1 and from 2 moves within four round trips,
/// by two slots.
#[test]
fn below_three_slots_a_start_window_needs_at_most_four_rounds() {
    for start in [1usize, 2] {
        let clock = ManualClock::new();
        let pool = adaptive(&clock, 1, 64, start, settings(10, 100 * MS));
        let mut rig = Rig::new(&pool, &clock);
        let mut moved_at = None;
        for round in 1..=4 {
            let r = rig.round(100 * MS, 10, success);
            if *r.last().unwrap() != start {
                moved_at = Some((round, *r.last().unwrap()));
                break;
            }
        }
        let (round, to) = moved_at.unwrap_or_else(|| {
            panic!(
                "start {start}: no move within four round trips; trace {:?}",
                rig.trace
            )
        });
        assert_eq!(to, start + 2, "start {start}: moved at round {round}");
        rig.finish();
    }
}

/// adaptive.rs "The first sign of load ... ends the doubling, and so does
/// the first window in which no call waited"; "Update. A window that used
/// the limit ... and was not congested moves it `smoothing · sqrt(limit) ·
/// (1 − queue / ½)` up". A window of exactly the limit's calls (16, none
/// waiting) grows 16 → 17.4 (17) and ends the start: a backlog after it
/// grows the limit by 0.35 · sqrt(17.4) to 18.86 (19), not to 34, and no
/// later round more than adds a few slots.
#[test]
fn a_window_in_which_no_call_waited_ends_the_doubling() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 200, 16, settings(16, 100 * MS));
    let mut rig = Rig::new(&pool, &clock);
    rig.add(16);
    assert_eq!(rig.waiting(), 0);
    let first = rig.round(100 * MS, 0, success);
    assert_eq!(*first.last().unwrap(), 17, "no waiting: {first:?}");
    let rounds: Vec<_> = (0..8).map(|_| rig.round(100 * MS, 100, success)).collect();
    let ends = ends(&rounds);
    assert_eq!(ends[0], 19, "past the start: {ends:?}");
    let mut last = 17;
    for e in ends {
        assert!(
            e <= last + 3,
            "a doubling after the start ended: {last} → {e}"
        );
        last = e;
    }
    rig.finish();
}

/// adaptive.rs "The first sign of load — drops that cut (below; a window
/// with a drop too few to cut holds the limit, and the start goes on after
/// it) ... ends the doubling". A start window of ten calls with one drop
/// holds the limit at 10; the clean window after it doubles it (20): the
/// start went on. (Round 39 found the docs promising that a single drop
/// ends the start; the code's rule, which the simulator's servers with a
/// background drop rate need, is now the documented one.)
#[test]
fn a_single_drop_in_the_start_holds_the_limit_and_the_start_goes_on() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 200, 10, settings(10, 100 * MS));
    let mut rig = Rig::new(&pool, &clock);
    let first = rig.round(100 * MS, 50, |i| {
        if i == 4 {
            Verdict::Overload
        } else {
            Verdict::Success
        }
    });
    assert_eq!(*first.last().unwrap(), 10, "one drop holds: {first:?}");
    let second = rig.round(100 * MS, 50, success);
    assert_eq!(
        *second.last().unwrap(),
        20,
        "the start goes on after a drop too few to cut; trace {:?}",
        rig.trace
    );
    rig.finish();
}

/// adaptive.rs "Drops act at once. Overload answers do not wait for the
/// window's time or round trip: once `window_samples` calls admitted since
/// the last cut are in, with at least two drops and more than
/// `drop_tolerance` of them ..., the limit is cut — ... or by the drop rate
/// (`limit × (1 − rate)`) if that leaves more". `window_time` 60 s, answers
/// after 1 ms: nine calls in (two drops) leave the limit at 20; the tenth
/// cuts it at once to 20 × (1 − 0.2) = 16 (nothing served yet to cut to).
#[test]
fn drops_cut_at_once_by_the_drop_rate_once_window_samples_calls_are_in() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 64, 20, settings(10, Duration::from_secs(60)));
    let mut rig = Rig::new(&pool, &clock);
    rig.add(20);
    clock.advance(MS);
    for verdict in [Verdict::Success; 7] {
        assert_eq!(rig.answer(verdict), 20);
    }
    assert_eq!(rig.answer(Verdict::Overload), 20);
    assert_eq!(
        rig.answer(Verdict::Overload),
        20,
        "nine calls in: no cut yet"
    );
    assert_eq!(
        rig.answer(Verdict::Success),
        16,
        "the tenth: cut by the rate"
    );
    rig.finish();
}

/// adaptive.rs "once `window_samples` calls admitted since the last cut are
/// in (or, sooner, three drops: a burst of refusals is judged before the
/// window fills ...), with at least two drops ..., the limit is cut".
/// `window_samples` 10: two drops, the first two calls in, leave the limit;
/// the third cuts it (by half: nothing served yet to cut to).
#[test]
fn three_drops_are_judged_before_window_samples_calls_are_in() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 64, 20, settings(10, Duration::from_secs(60)));
    let mut rig = Rig::new(&pool, &clock);
    rig.add(20);
    clock.advance(MS);
    let seen: Vec<_> = (0..3).map(|_| rig.answer(Verdict::Overload)).collect();
    assert_eq!(seen, [20, 20, 10], "three drops in, window_samples 10");
    rig.finish();
}

/// adaptive.rs "by one slot at least and to `limit × backoff` at most ...
/// Drops of calls admitted before a cut say nothing about the new limit and
/// are not counted against it: a burst of refusals that arrives together is
/// one cut, not a cascade". Twenty calls refused at the same instant: one
/// cut, to exactly `20 × backoff` (0.5 → 10, 0.8 → 16); the calls admitted
/// after it, refused together in turn, make one more cut (10 → 5, 16 → 13).
#[test]
fn a_burst_of_drops_at_one_instant_is_one_cut_to_limit_times_backoff() {
    for (backoff, first, second) in [(0.5, 10usize, 5usize), (0.8, 16, 13)] {
        let clock = ManualClock::new();
        let s = AdaptiveSettings {
            backoff,
            ..settings(10, Duration::from_secs(60))
        };
        let pool = adaptive(&clock, 1, 20, 20, s);
        let mut rig = Rig::new(&pool, &clock);
        let burst = rig.round(MS, 40, |_| Verdict::Overload);
        let mut moves = burst.clone();
        moves.dedup();
        assert_eq!(moves, [20, first], "backoff {backoff}: {burst:?}");
        assert_eq!(rig.in_flight(), first, "backoff {backoff}");
        let again = rig.round(MS, 40, |_| Verdict::Overload);
        let mut moves = again.clone();
        moves.dedup();
        assert_eq!(moves, [first, second], "backoff {backoff}: {again:?}");
        rig.finish();
    }
}

/// The same promise when the refusals of calls admitted before the cut
/// straggle in over the next round trip: the limit is cut once, however
/// many of them follow.
#[test]
fn drops_of_calls_admitted_before_a_cut_that_arrive_later_do_not_cut_again() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 20, 20, settings(10, Duration::from_secs(60)));
    let mut rig = Rig::new(&pool, &clock);
    rig.add(20);
    clock.advance(MS);
    let cut: Vec<_> = (0..3).map(|_| rig.answer(Verdict::Overload)).collect();
    assert_eq!(*cut.last().unwrap(), 10, "{cut:?}");
    // The seventeen others, 3 ms apart; nothing newer answers meanwhile.
    for i in 0..17 {
        clock.advance(3 * MS);
        let call = rig
            .calls
            .iter_mut()
            .find(|c| c.admitted.get() && c.answer.is_some())
            .unwrap();
        let _ = call.answer.take().unwrap().send(Verdict::Overload);
        rig.poll_all();
        assert_eq!(
            pool.size(),
            10,
            "straggler {i} cut again; trace {:?}",
            rig.trace
        );
    }
    rig.finish();
}

/// `Pool::submit_judged`: "A call nested in work of the same pool (running
/// under its parent's slot) is judged too: its overload counts as a drop,
/// as any call's" (sent when the nested call started); adaptive.rs "Drops
/// of calls admitted before a cut ... are not counted against it: a burst
/// of refusals that arrives together is one cut, not a cascade". Twenty
/// calls admitted at 0, each with a nested call sent at once and refused at
/// 1 ms: one cut (20 → 10), as for top-level refusals. (Round 39 found a
/// cascade, 20 → 10 → 5 → 3 → 1: a nested call's drop was taken as sent
/// when it ended.)
#[test]
fn nested_overloads_of_calls_admitted_before_a_cut_are_one_cut() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 20, 20, settings(10, Duration::from_secs(60)));
    let mut rig = Rig::new(&pool, &clock);
    rig.nested = true;
    rig.add(20);
    assert_eq!(rig.in_flight(), 20);
    clock.advance(MS);
    for _ in 0..20 {
        rig.answer(Verdict::Overload);
    }
    assert_eq!(
        rig.trace,
        [20, 10],
        "one burst of refusals under calls admitted before the cut"
    );
    rig.finish();
}

/// adaptive.rs "with at least two drops and more than `drop_tolerance` of
/// them ... the limit is cut"; `AdaptiveSettings::drop_tolerance` "Drop rate
/// a window may have without backing off". With `drop_tolerance` 0.2, two
/// drops in ten calls (exactly 0.2) do not cut; three cut by the rate
/// (20 × 0.7 = 14).
#[test]
fn drop_tolerance_is_the_rate_a_window_may_have() {
    for (drops, want) in [(2usize, 20usize), (3, 14)] {
        let clock = ManualClock::new();
        let s = AdaptiveSettings {
            drop_tolerance: 0.2,
            ..settings(10, Duration::from_secs(60))
        };
        let pool = adaptive(&clock, 1, 64, 20, s);
        let mut rig = Rig::new(&pool, &clock);
        rig.add(20);
        clock.advance(MS);
        let seen: Vec<_> = (0..10)
            .map(|i| {
                rig.answer(if i >= 10 - drops {
                    Verdict::Overload
                } else {
                    Verdict::Success
                })
            })
            .collect();
        assert_eq!(*seen.last().unwrap(), want, "{drops} drops of 10: {seen:?}");
        rig.finish();
    }
}

/// adaptive.rs "with at least two drops": at `drop_tolerance` 0 and windows
/// of one call, one drop does not cut and the second does; and at
/// `drop_tolerance` 1 (a window may drop everything) no burst cuts.
#[test]
fn one_drop_never_cuts_and_a_tolerance_of_one_never_cuts() {
    let clock = ManualClock::new();
    let s = AdaptiveSettings {
        drop_tolerance: 0.0,
        ..settings(1, Duration::from_secs(60))
    };
    let pool = adaptive(&clock, 1, 64, 20, s);
    let mut rig = Rig::new(&pool, &clock);
    rig.add(20);
    clock.advance(MS);
    assert_eq!(rig.answer(Verdict::Overload), 20, "one drop");
    assert_eq!(rig.answer(Verdict::Overload), 10, "two drops of two");
    rig.finish();

    let clock = ManualClock::new();
    let s = AdaptiveSettings {
        drop_tolerance: 1.0,
        ..settings(10, Duration::from_secs(60))
    };
    let pool = adaptive(&clock, 1, 64, 20, s);
    let mut rig = Rig::new(&pool, &clock);
    for _ in 0..3 {
        let r = rig.round(MS, 10, |_| Verdict::Overload);
        assert!(r.iter().all(|&l| l == 20), "drop_tolerance 1 cut: {r:?}");
    }
    rig.finish();
}

/// adaptive.rs "the limit is cut ... by the drop rate (`limit × (1 −
/// rate)`) ...; by one slot at least". At `drop_tolerance` 0 and windows of
/// 160 calls (four rounds of the limit: the start's longest window), two
/// drops in 160 at a limit of 40 are a rate of 1.25%: 39.5, which would
/// round back to 40 — the cut is a slot: 39.
#[test]
fn a_cut_by_a_small_drop_rate_is_one_slot_at_least() {
    let clock = ManualClock::new();
    let s = AdaptiveSettings {
        drop_tolerance: 0.0,
        ..settings(160, Duration::from_secs(60))
    };
    let pool = adaptive(&clock, 1, 64, 40, s);
    let mut rig = Rig::new(&pool, &clock);
    let mut seen = Vec::new();
    let mut n = 0;
    for _ in 0..4 {
        let r = rig.round(MS, 40, |_| {
            n += 1;
            if n == 80 || n == 159 {
                Verdict::Overload
            } else {
                Verdict::Success
            }
        });
        seen.extend(r);
    }
    assert_eq!(seen.len(), 160);
    assert!(seen[..159].iter().all(|&l| l == 40), "cut early: {seen:?}");
    assert_eq!(seen[159], 39, "trace {:?}", rig.trace);
    rig.finish();
}

/// adaptive.rs "Start ... A window of the start needs at most four rounds
/// of the limit in calls (fewer than `window_samples` where the limit is
/// small)". At 40 slots with `window_samples` 200, a start window holds
/// 4 × 40 = 160 calls: three round trips of 40 do not double the limit, the
/// fourth does; at 80, 200 calls (`window_samples`) are more than the fifth
/// round trip's. (Round 39 found the docs giving the four-rounds cap below
/// three slots only; the code's rule is now the documented one.)
#[test]
fn a_start_window_needs_at_most_four_rounds_of_the_limit() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 400, 40, settings(200, 100 * MS));
    let mut rig = Rig::new(&pool, &clock);
    let rounds: Vec<_> = (0..5).map(|_| rig.round(100 * MS, 60, success)).collect();
    assert_eq!(ends(&rounds), [40, 40, 40, 80, 80], "trace {:?}", rig.trace);
    rig.finish();
}

/// adaptive.rs "Update. A congested window moves the limit `smoothing` of
/// the way to `limit × floor·tolerance·noise / latency` (at most halving
/// it)". A server of exactly 100 ms (no noise) sets the floor at a limit
/// of 32 (= `max`); a window of 150 ms then moves it, with `smoothing` 1,
/// to 32 × 0.1 × 1.2 / 0.15 = 25.6 (26); one of 10 s only halves it (16),
/// and with the default `smoothing` 0.35 moves it 0.35 of the way to
/// 16 (26.4: 26).
#[test]
fn a_congested_window_moves_the_limit_toward_floor_tolerance_over_latency_at_most_halving() {
    for (smoothing, slow, want) in [
        (1.0, 150 * MS, 26usize),
        (1.0, Duration::from_secs(10), 16),
        (0.35, Duration::from_secs(10), 26),
    ] {
        let clock = ManualClock::new();
        let s = AdaptiveSettings {
            smoothing,
            ..settings(32, 100 * MS)
        };
        let pool = adaptive(&clock, 1, 32, 32, s);
        let mut rig = Rig::new(&pool, &clock);
        let first = rig.round(100 * MS, 40, success);
        assert!(first.iter().all(|&l| l == 32), "{first:?}");
        let second = rig.round(slow, 40, success);
        assert_eq!(
            *second.last().unwrap(),
            want,
            "smoothing {smoothing}, {slow:?}: {second:?}"
        );
        rig.finish();
    }
}

/// adaptive.rs "Update. A window that used the limit (its peak running
/// count reached 80% of it) and was not congested moves it `smoothing ·
/// sqrt(limit) · ...` up ... and holds it after": at a limit of 20, windows
/// of 16 calls at once (80%) grow it to 20 + 0.35 × sqrt(20) = 21.57 (22);
/// windows of 15 at once (75%) leave it at 20.
#[test]
fn a_window_that_used_eighty_percent_of_the_limit_grows_it_and_one_below_does_not() {
    for (at_once, want) in [(16usize, 22usize), (15, 20)] {
        let clock = ManualClock::new();
        let pool = adaptive(&clock, 1, 64, 20, settings(16, 100 * MS));
        let mut rig = Rig::new(&pool, &clock);
        let mut seen = Vec::new();
        for _ in 0..if at_once == 16 { 1 } else { 4 } {
            rig.add(at_once);
            seen.extend(rig.round(100 * MS, 0, success));
        }
        assert_eq!(*seen.last().unwrap(), want, "{at_once} at once: {seen:?}");
        rig.finish();
    }
}

/// `AdaptiveSettings`: "Durations may be anything: one too long to pass
/// (`Duration::MAX`) means 'never'"; adaptive.rs "Overload answers do not
/// wait for the window's time". With `window_time` `Duration::MAX` no window
/// ever closes (the start never doubles, however long the backlog), and
/// drops still cut at once.
#[test]
fn a_window_time_of_duration_max_never_closes_a_window_but_drops_still_cut() {
    let clock = ManualClock::new();
    let s = AdaptiveSettings {
        window_time: Duration::MAX,
        baseline_interval: Duration::MAX,
        ..AdaptiveSettings::DEFAULT
    };
    let pool = adaptive(&clock, 1, 64, 8, s);
    let mut rig = Rig::new(&pool, &clock);
    for _ in 0..20 {
        let r = rig.round(Duration::from_secs(100), 20, success);
        assert!(r.iter().all(|&l| l == 8), "a window closed: {r:?}");
    }
    let burst = rig.round(MS, 20, |_| Verdict::Overload);
    let low = *burst.iter().min().unwrap();
    assert!(
        (4..8).contains(&low),
        "drops did not cut (or cut past backoff): {burst:?}"
    );
    rig.finish();
}

/// adaptive.rs "Admission timeouts and calls turned away by the pool itself
/// are never drops"; README "Admission timeouts are the pool's own queue
/// and never count as overload". A pool with `max_waiting` 0 turns away
/// thirty calls at every turn (ninety in all, while twenty calls are
/// answered): none of them is a drop, so nothing cuts.
#[test]
fn calls_turned_away_by_the_pool_are_never_drops() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(64)
        .size(10)
        .max_waiting(0)
        .scale_policy(ScalePolicy::Adaptive(settings(10, Duration::from_secs(60))))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let mut rig = Rig::new(&pool, &clock);
    rig.add(10);
    for round in 0..3 {
        let before = rig.turned_away;
        rig.add(30);
        assert_eq!(rig.turned_away, before + 30, "round {round}");
        assert_eq!(pool.size(), 10, "round {round}: turned-away calls moved it");
        clock.advance(MS);
        // Two of the admitted calls succeed, their slots refilled.
        rig.answer(Verdict::Success);
        rig.answer(Verdict::Success);
        rig.add(2);
        assert_eq!(pool.size(), 10, "round {round}");
    }
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Full), 90, "{s:?}");
    rig.finish();
}

/// README "drops (`Pool::submit_judged` marks overload) cut it at once,
/// without waiting for a round trip". A server of 100 ms that starts
/// refusing every call 1 ms after it is sent: the limit is cut within that
/// millisecond, a tenth of the round trip. (Round 39 found the README
/// promising one cut per round trip, which the module docs' "Drops act at
/// once" and the code never kept: 32 → 22 in 10 ms here.)
#[test]
fn drops_cut_at_once_without_waiting_for_a_round_trip() {
    let clock = ManualClock::new();
    let pool = adaptive(&clock, 1, 32, 32, settings(10, 100 * MS));
    let mut rig = Rig::new(&pool, &clock);
    for _ in 0..3 {
        rig.round(100 * MS, 40, success);
    }
    assert_eq!(pool.size(), 32);
    rig.round(MS, 40, |_| Verdict::Overload);
    assert!(pool.size() < 32, "no cut within 1 ms: {:?}", rig.trace);
    rig.finish();
}

/// adaptive.rs "The limit stays within `[min, max]`", and the limit in force
/// is never exceeded (the rig checks after every event): a long mixed run
/// — slow, fast and refused answers, ignored calls, bursts, a changing
/// backlog — on tight bounds `[3, 12]`.
#[test]
fn a_mixed_run_keeps_the_limit_in_bounds_and_the_bodies_within_it() {
    let clock = ManualClock::new();
    let s = AdaptiveSettings {
        baseline_interval: Duration::from_secs(2),
        ..settings(5, 50 * MS)
    };
    let pool = adaptive(&clock, 3, 12, 5, s);
    let mut rig = Rig::new(&pool, &clock);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut low, mut high) = (usize::MAX, 0);
    for _ in 0..400 {
        let r = next();
        let latency = [MS, 20 * MS, 100 * MS, Duration::from_secs(2)][(r % 4) as usize];
        let backlog = [0, 1, 5, 30][((r >> 4) % 4) as usize];
        let refuse = (r >> 8) % 5 == 0;
        let mut k = r >> 16;
        let seen = rig.round(latency, backlog, |_| {
            k = k.rotate_left(7) ^ 0x5555;
            match k % 10 {
                0 => Verdict::Ignore,
                1..=3 if refuse => Verdict::Overload,
                4 => Verdict::Overload,
                _ => Verdict::Success,
            }
        });
        for l in seen {
            low = low.min(l);
            high = high.max(l);
        }
    }
    assert!(low >= 3 && high <= 12, "[{low}, {high}]");
    assert!(high > low, "the limit never moved: {:?}", rig.trace);
    assert!(rig.meter.max() <= 12, "{} bodies at once", rig.meter.max());
    rig.finish();
}

/// `AdaptiveSettings::validate`: "[`BuildError::OutOfRange`] naming the
/// first field out of its range" (the fields in their declared order), and
/// the builder refuses what `validate` refuses — never a panic — while
/// `GroupSettings::check` agrees.
#[test]
fn validate_names_the_first_field_out_of_range_and_the_builder_agrees() {
    let d = AdaptiveSettings::DEFAULT;
    let cases = [
        (
            AdaptiveSettings {
                window_samples: 0,
                tolerance: f64::NAN,
                backoff: -1.0,
                ..d
            },
            "AdaptiveSettings::window_samples",
        ),
        (
            AdaptiveSettings {
                tolerance: f64::INFINITY,
                smoothing: f64::NAN,
                ..d
            },
            "AdaptiveSettings::tolerance",
        ),
        (
            AdaptiveSettings {
                smoothing: 1e308,
                backoff: f64::NAN,
                drop_tolerance: -0.5,
                ..d
            },
            "AdaptiveSettings::smoothing",
        ),
        (
            AdaptiveSettings {
                backoff: f64::NEG_INFINITY,
                drop_tolerance: f64::NAN,
                ..d
            },
            "AdaptiveSettings::backoff",
        ),
        (
            AdaptiveSettings {
                drop_tolerance: 1.0 + f64::EPSILON,
                ..d
            },
            "AdaptiveSettings::drop_tolerance",
        ),
        (
            AdaptiveSettings {
                window_samples: u32::MAX,
                ..d
            },
            "AdaptiveSettings::window_samples",
        ),
        (
            AdaptiveSettings {
                tolerance: 1.0 - f64::EPSILON,
                ..d
            },
            "AdaptiveSettings::tolerance",
        ),
    ];
    for (s, field) in cases {
        let err = s.validate().unwrap_err();
        match &err {
            BuildError::OutOfRange { setting, .. } => {
                assert_eq!(*setting, field, "{s:?}: {err}")
            }
            other => panic!("{s:?}: {other:?}"),
        }
        assert!(err.to_string().contains(field), "{err}");
        let built = std::panic::catch_unwind(|| {
            Pool::builder()
                .kind(Kind::Autoscale)
                .min(1)
                .max(8)
                .scale_policy(ScalePolicy::Adaptive(s))
                .clock(Arc::new(ManualClock::new()))
                .build()
                .map(|_| ())
        })
        .expect("the builder panicked");
        assert_eq!(built, Err(err.clone()), "{s:?}");
        let checked = GroupSettings::DEFAULT
            .kind(Kind::Autoscale)
            .scale_policy(ScalePolicy::Adaptive(s))
            .check()
            .map(|_| ());
        assert_eq!(checked, Err(err), "{s:?}");
    }
    // Valid at the edges (and -0.0 is 0): accepted.
    for s in [
        AdaptiveSettings {
            window_samples: 10_000,
            tolerance: 1.0,
            smoothing: -0.0,
            backoff: 1.0,
            drop_tolerance: f64::MIN_POSITIVE,
            window_time: Duration::ZERO,
            baseline_interval: Duration::MAX,
        },
        AdaptiveSettings {
            window_samples: 1,
            tolerance: f64::MAX,
            smoothing: 1.0,
            backoff: -0.0,
            drop_tolerance: 1.0,
            window_time: Duration::MAX,
            baseline_interval: Duration::ZERO,
        },
    ] {
        assert_eq!(s.validate(), Ok(()), "{s:?}");
    }
}

/// adaptive.rs "Queue ... past its knee a server queues every call added,
/// so once half a call waits there the limit stops growing ...; a window
/// that surely queued half a call ... holds it too"; "Noise ... it is
/// *congested* only when its latency exceeds the floor by `tolerance`".
/// Past the start (a first window with nobody waiting: 20 → 21.6), a floor
/// of exactly 100 ms: windows of 110 ms (20 calls in flight of which 1.8
/// queue, under the tolerance of 1.2) hold the limit at 22 — neither grow
/// it nor cut it — while windows of 100 ms grow it.
#[test]
fn a_server_queueing_half_a_call_holds_the_limit_below_the_tolerance() {
    for (latency, grows) in [(110 * MS, false), (100 * MS, true)] {
        let clock = ManualClock::new();
        let pool = adaptive(&clock, 1, 64, 20, settings(20, 100 * MS));
        let mut rig = Rig::new(&pool, &clock);
        rig.add(20);
        let first = rig.round(100 * MS, 0, success);
        assert_eq!(*first.last().unwrap(), 22, "{first:?}");
        let rounds: Vec<_> = (0..4).map(|_| rig.round(latency, 40, success)).collect();
        let ends = ends(&rounds);
        if grows {
            assert!(ends[3] > 22, "{latency:?}: {ends:?}");
        } else {
            assert!(
                rounds.iter().flatten().all(|&l| l == 22),
                "{latency:?}: {rounds:?}"
            );
        }
        rig.finish();
    }
}

/// adaptive.rs "Admission timeouts and calls turned away by the pool itself
/// are never drops"; README "Admission timeouts are the pool's own queue
/// and never count as overload". Calls that wait past their admission
/// timeout (30 of them, at every turn) cut nothing.
#[test]
fn admission_timeouts_are_never_drops() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(64)
        .size(10)
        .admission_timeout(50 * MS)
        .scale_policy(ScalePolicy::Adaptive(settings(10, Duration::from_secs(60))))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let mut rig = Rig::new(&pool, &clock);
    rig.add(10);
    for round in 0..3 {
        let before = rig.turned_away;
        rig.add(30);
        assert_eq!(rig.waiting(), 30, "round {round}");
        // The deadline passes on the pool's clock and in real time (the
        // crate's timer thread).
        // (Bounded only to turn a hang into a failure.)
        clock.advance(100 * MS);
        let start = std::time::Instant::now();
        while rig.turned_away < before + 30 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "round {round}: {} of 30 timed out",
                rig.turned_away - before
            );
            std::thread::sleep(20 * MS);
            rig.poll_all();
        }
        assert_eq!(rig.waiting(), 0, "round {round}");
        assert_eq!(pool.size(), 10, "round {round}: timeouts moved the limit");
        rig.answer(Verdict::Success);
        rig.add(1);
    }
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::TimedOut), 90, "{s:?}");
    rig.finish();
}
