//! A randomized model test of what `model.rs` leaves out: admission
//! timeouts, the queue-depth autoscaler's own moves, and permits.
//!
//! Each case builds one pool (fixed or autoscaled, FIFO/LIFO/priority, a
//! random size, bounds and waiting bound) and drives it on this thread at
//! the poll level, as `model.rs` does: calls are futures polled by hand with
//! wakers that log their wake-ups; a submit's work is a future the case
//! tells to finish. Time moves only when the case says so:
//!
//! * a `ManualClock` (`ManualClock::advance`, "a clock that moves only when
//!   told to: for deterministic tests of autoscaling"), for autoscaled pools
//!   without an admission timeout (their deadlines would run on the timer
//!   thread, in real time); now and then taken to the end of its range
//!   (`advance(Duration::MAX)`);
//! * with feature `tokio`, a `TokioClock` in a current-thread runtime with
//!   paused time, moved by `tokio::time::advance`: "a `TokioClock` makes the
//!   autoscaler and the admission timeouts follow tokio's (paused) time"
//!   (`PoolBuilder::clock`), fixed or autoscaled pools, with or without an
//!   admission timeout.
//!
//! Operations: `submit_weighted`, `acquire_weighted`, `acquire_owned` (made,
//! then polled when the case says), `try_acquire`, `try_acquire_owned`,
//! poll, finish (a submit's work ends; a permit is dropped, an owned one
//! on another thread that enters the case's runtime), drop in any
//! state, poll the woken calls, advance the clock (1 ms to a few hundred
//! intervals, crossing sample times, evaluations and deadlines), `scale`,
//! `resize`, `set_bounds`, `pause`, `resume`, `close`, `abort`,
//! `set_max_waiting`, `set_admission_timeout`, `set_autoscale_timing`, and
//! (tokio cases) `shutdown(Some(timeout))` made and polled by hand.
//! After every operation the case compares: each poll's result (pending,
//! the output, a permit, the `Rejected` reason); the exact log of wake-ups
//! and work starts (who was handed a slot, in which order, that nobody
//! else was woken, and which timers fired); the calls woken and not polled
//! since; every field of `stats()`; `size()`, `bounds()`, `max_waiting()`,
//! `admission_timeout()`; and, once every call is gone, that the pool adds
//! up.
//!
//! The rules the model follows, from the docs:
//!
//! * Admission (as `model.rs`): closed, else paused, turns a first poll
//!   away; it runs at once if a slot is free and nobody waits; `Full` at the
//!   waiting bound; else it waits. A freed or added slot goes to the next
//!   waiter by the order, which is woken; dropping a waiting call leaves the
//!   queue, dropping an admitted or running one frees its slot (cancelled);
//!   `abort` turns every waiting call away (woken, in queue order).
//! * Admission timeouts (`GroupSettings::admission_timeout`): "Turns a call
//!   away with `Rejected::TimedOut` once it has waited this long for a slot.
//!   Time spent running is not limited." The wait starts when the call
//!   joins the queue (timer.rs: "a deadline is only created for a call that
//!   actually has to wait"); when it passes, the call's waker is woken and
//!   the call's next poll, if it is still waiting, is `TimedOut` (counted
//!   in `rejected_for(TimedOut)`, an autoscaler event). `set_admission_timeout`:
//!   "for calls that start waiting from now on". A zero timeout turns a call
//!   that would wait away at its first poll (it has waited that long as it
//!   starts waiting).
//! * Permits (`Pool::acquire`): "The same admission as `submit`: same order,
//!   same rejections, same accounting (`Stats::running` counts the
//!   permit)"; `Permit`: "Dropping it ends that call: counted as completed
//!   ..., its slot handed to the next waiting call"; `try_acquire`: "A permit
//!   if a slot is free now; never waits", "`Rejected::Full` if no slot is
//!   free (as if no call could wait), otherwise as `submit` (paused,
//!   closed)" — counted as a call turned away `Full`.
//! * The queue-depth autoscaler (`Kind::Autoscale`: "moves by itself within
//!   `[min, max]`, by the pool's `ScalePolicy` (the queue-depth rule unless
//!   told otherwise)"; README "Autoscale"; the rule's docs in
//!   `scale/queue_depth.rs`, which the README points to): demand is
//!   `running + waiting`, "sampled at the events that change it (intake,
//!   release, and a waiting call that leaves: cancelled or timed out) —
//!   periods without events are filled in", a sample every `interval /
//!   window`; every `interval`, with `D` the mean of the last `window`
//!   samples and `L` the limit, "`D > L`: grow to `ceil(D)`, at least
//!   `L + 1`, at most `2 L` per step; `D < L / 2`: shrink to
//!   `ceil(D * 1.25)`, at most halving per step, and never below 1;
//!   otherwise keep `L`", clamped to `[min, max]`; "No background thread":
//!   evaluations happen at events. `set_autoscale_timing` "restarts" the
//!   rule.
//! * `Pool::shutdown(Some(timeout))`: "Closes the pool and waits for waiting
//!   and running calls to finish. With a `timeout`, it returns by the
//!   deadline whatever the calls do: if the pool has not drained by then,
//!   the calls still waiting are turned away (like `abort`), the ones still
//!   running are left to finish, and the error says how many of each there
//!   were"; its waker is woken when the pool drains or the deadline passes.
//!
//! Readings chosen where the docs are loose (each at its place in the
//! model): "every `interval`" is the first event at least `interval` after
//! the previous evaluation; where an intake's evaluation falls (a call that
//! finds a free slot with nobody waiting takes it; otherwise the evaluation
//! comes first and the call is judged by the new limit, as `size(0)`'s docs
//! imply); a release's evaluation decides whether its freed slot is handed
//! on; an `abort` is an event (it turns waiting calls away); a call handed a
//! slot after its deadline passed but before its next poll keeps the slot;
//! timers that fire in one `advance` fire in no particular order (the
//! harness sorts their wake-ups). In most cases sample times never
//! coincide with events (the pool is built at time 0, events happen at
//! `k ms + 0.5 ms`, samples at whole milliseconds); in a fifth of the cases
//! (and after `set_autoscale_timing`) they do, and a sample due at an
//! event's time takes the demand that held until the event ("the demand
//! since the previous event", `QueueDepthRule::observe`).
//!
//! Not modelled: the adaptive policy, sync calls (`run`, their timeouts run
//! on their own thread in real time) and sync barging, nested calls and
//! permits taken inside work, `never-rejecting` group calls, timeouts longer
//! than tokio's timer keeps (they run on the timer thread), timeouts not
//! in whole milliseconds (tokio's timer rounds them up), clocks that go
//! backwards or panic, `shutdown` on a `ManualClock` (its deadline is the
//! timer thread's, in real time).
//!
//! Bugs found: none — every disagreement met so far was the harness's or
//! the model's (see `a_wrong_model_is_caught` for the comparison's teeth).
//!
//! Noted, not a bug by the docs: an owned permit of a `TokioClock` pool
//! dropped on a thread outside the paused runtime makes the pool read the
//! real clock there ("Outside a paused runtime it is the real monotonic
//! clock"), which it takes for its clock going back ("read as standing
//! still across the jump and running on from there at its own pace",
//! `PoolBuilder::clock`); every later reading in the runtime is then ahead
//! of tokio's paused time by what the paused time had run ahead of the real
//! one, and the autoscaler evaluates early. Hence `release` enters the
//! runtime on its thread.
//!
//! Reproducing: a failure prints its case seed, the pool's settings and the
//! operations up to the failure; `POOLED_MODEL_TIMED_SEED=<seed>` replays
//! one case, `POOLED_MODEL_TIMED_CASES=<n>` changes the number of cases,
//! `POOLED_MODEL_TIMED_BASE=<n>` the base seed they derive from.

use pool_runtime::{Clock, Kind, ManualClock, Order, OwnedPermit, Permit, Pool, Rejected};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Cases run by default (some 20 s in a debug build).
const DEFAULT_CASES: u64 = 8_000;
/// Operations per case, on average (plus the drops that end it).
const OPS: usize = 80;
const DEFAULT_BASE_SEED: u64 = 0x7173_D0C5_11ED_0046;
/// Nanoseconds in a millisecond: the model keeps time in nanoseconds (as
/// a `u128`, to follow a clock to the end of its range).
const MS: u128 = 1_000_000;
/// The end of a clock's range as the pool reads it (`u64::MAX` ns).
const END: u128 = u64::MAX as u128;
/// The pool is built at clock time 0 and the clock is then moved by this
/// much, so that every later event happens at `k ms + 0.5 ms` while every
/// demand sample is due at a whole millisecond (the sample period is whole
/// milliseconds): no event ever falls on a sample time, where the docs do
/// not say whether the sample sees the demand before or after the event.
const OFFSET: u128 = 500_000;

// ---- a small deterministic PRNG ------------------------------------------------

/// xorshift64*.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next_u64() % 100 < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// The seed of case `index` under `base` (splitmix64 of the two).
fn case_seed(base: u64, index: u64) -> u64 {
    let mut z =
        (base ^ index.wrapping_mul(0xA24B_AED4_963E_E407)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---- what a case runs ------------------------------------------------------------

/// The clock a case's pool reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClockKind {
    /// `ManualClock`: drives the autoscaler; no admission timeout (its
    /// deadlines would run on the timer thread, in real time).
    Manual,
    /// `TokioClock` in a current-thread runtime with paused time: drives the
    /// autoscaler and the admission timeouts (tokio's timer).
    #[cfg(feature = "tokio")]
    Tokio,
}

#[derive(Clone, Copy, Debug)]
struct Config {
    kind: Kind,
    order: Order,
    size: usize,
    /// `[min, max]` of an autoscaled pool; `[0, MAX_SLOTS]` for a fixed one.
    bounds: (usize, usize),
    max_waiting: Option<usize>,
    /// Autoscale interval (ms) and window.
    interval_ms: u64,
    window: usize,
    /// Admission timeout (ms).
    timeout_ms: Option<u64>,
    clock: ClockKind,
    /// How far the clock is moved after the pool is built (ns): `OFFSET`,
    /// or 0 in some cases, whose events then fall on sample times.
    offset: u128,
}

impl Config {
    fn random(rng: &mut Rng) -> Config {
        let order = rng.pick(&[Order::Fifo, Order::Lifo, Order::Priority]);
        let max_waiting = rng.percent(20).then(|| rng.below(5));
        #[cfg(feature = "tokio")]
        let clock = if rng.percent(60) {
            ClockKind::Tokio
        } else {
            ClockKind::Manual
        };
        #[cfg(not(feature = "tokio"))]
        let clock = ClockKind::Manual;
        let timed = clock != ClockKind::Manual;
        let timeout_ms = (timed && rng.percent(80)).then(|| random_timeout(rng));
        let interval_ms = rng.pick(&[20, 40, 100, 200]);
        let window = rng.pick(&[1, 2, 4, 5]);
        let autoscale = clock == ClockKind::Manual || rng.percent(60);
        let fixed_spread = if rng.percent(20) { 6 } else { 3 };
        if autoscale {
            let min = rng.below(3);
            let spread = if rng.percent(20) { 8 } else { 4 };
            let max = min.max(1) + rng.below(spread);
            Config {
                kind: Kind::Autoscale,
                order,
                size: min + rng.below(max - min + 1),
                bounds: (min, max),
                max_waiting,
                interval_ms,
                window,
                timeout_ms,
                clock,
                offset: OFFSET,
            }
        } else {
            Config {
                kind: Kind::Fixed,
                order,
                size: 1 + rng.below(fixed_spread),
                bounds: (0, pool_runtime::MAX_SLOTS),
                max_waiting,
                interval_ms,
                window,
                timeout_ms,
                clock,
                offset: OFFSET,
            }
        }
    }

    fn build(&self, clock: impl Clock) -> Pool {
        let mut builder = Pool::builder().order(self.order).kind(self.kind);
        builder = match self.kind {
            Kind::Fixed => builder.size(self.size),
            Kind::Autoscale => builder
                .min(self.bounds.0)
                .max(self.bounds.1)
                .size(self.size)
                .autoscale_interval(Duration::from_millis(self.interval_ms))
                .autoscale_window(self.window),
        };
        if let Some(bound) = self.max_waiting {
            builder = builder.max_waiting(bound);
        }
        if let Some(ms) = self.timeout_ms {
            builder = builder.admission_timeout(Duration::from_millis(ms));
        }
        builder
            .clock(clock)
            .build()
            .expect("a valid random configuration")
    }
}

/// How a call is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `Pool::submit_weighted`: work that runs under the slot.
    Submit,
    /// `Pool::acquire_weighted`.
    Acquire,
    /// `Pool::acquire_owned`.
    AcquireOwned,
    /// `Pool::try_acquire` (weight 0).
    Try,
    /// `Pool::try_acquire_owned`.
    TryOwned,
}

impl Form {
    fn is_permit(self) -> bool {
        self != Form::Submit
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Create a call (an async form: not polled yet, the pool does not know it).
    Submit {
        call: usize,
        weight: i64,
        form: Form,
    },
    /// `try_acquire`/`try_acquire_owned`: a call that is decided at once.
    Try {
        call: usize,
        weight: i64,
        owned: bool,
    },
    Poll {
        call: usize,
    },
    /// A submit: tell its work to finish and poll it; a held permit: drop it.
    Finish {
        call: usize,
    },
    /// Drop a call's future (and its permit, if it holds one).
    Drop {
        call: usize,
    },
    PollWoken,
    /// Move the clock (ms).
    Advance(u64),
    /// Make a `shutdown(Some(ms))` future and poll it (tokio cases only).
    Shutdown(u64),
    /// Poll the `shutdown` future.
    PollShutdown,
    /// Drop the `shutdown` future: "Dropping the future leaves the pool
    /// closed (and, past the deadline, its queue aborted); nothing else
    /// happens." (Past the deadline: once the poll that found it passed
    /// has aborted the queue; a drop itself does nothing.)
    DropShutdown,
    /// Move a `ManualClock` by `Duration::MAX`: to the end of its range,
    /// where it stays.
    AdvanceToEnd,
    Scale(isize),
    Resize(usize),
    SetBounds(usize, usize),
    Pause,
    Resume,
    Close,
    Abort,
    SetMaxWaiting(Option<usize>),
    /// `set_admission_timeout` (ms), tokio cases only.
    SetTimeout(Option<u64>),
    /// `set_autoscale_timing` (interval in ms, window).
    SetTiming(u64, usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Polled {
    Pending,
    /// The work's output (the call's id).
    Done(usize),
    /// A permit was returned.
    Granted,
    Rejected(Rejected),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Polled(usize, Polled),
    Size(usize),
    BoundsRefused,
    Shutdown(Shut),
}

/// What a poll of `shutdown(Some(timeout))` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shut {
    Pending,
    Drained,
    /// `ShutdownTimedOut`: running, nested, turned away, still waiting.
    TimedOut(usize, usize, usize, usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Woken(usize),
    /// The call's work was polled for the first time.
    Started(usize),
    /// The `shutdown` future's waker was woken (its deadline passed, or the
    /// pool drained).
    ShutdownWoken,
}

impl Event {
    /// Where a wake-up sorts among those of one `advance`.
    fn key(self) -> usize {
        match self {
            Event::Woken(call) | Event::Started(call) => call,
            Event::ShutdownWoken => usize::MAX,
        }
    }
}

// ---- the reference model ---------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    Waiting,
    /// Handed a slot (woken), not polled since.
    Admitted,
    /// Holds a slot: its work was polled, or it holds its permit.
    Running,
    /// Turned away by `abort` while waiting, not polled since.
    TurnedAway,
    /// Ready returned (and no permit held), or dropped.
    Resolved,
    Gone,
}

#[derive(Clone, Debug)]
struct ModelCall {
    state: State,
    weight: i64,
    form: Form,
    finish: bool,
    /// The admission deadline (model clock, µs), armed when the call starts
    /// waiting and disarmed when the call is next polled out of the queue,
    /// turned away, or dropped.
    deadline: Option<u128>,
    /// The deadline passed (its timer woke the call).
    fired: bool,
}

/// The queue-depth rule, as documented (README "Autoscale", the module docs
/// of `scale/queue_depth.rs` that the README points to, `AutoscaleTiming`).
#[derive(Clone, Debug)]
struct Scaler {
    /// `interval / window` (µs): samples are due at every multiple of it
    /// from the pool's creation.
    every: u128,
    window: usize,
    interval: u128,
    samples: VecDeque<usize>,
    next_sample: u128,
    next_eval: u128,
}

impl Scaler {
    /// The rule of a pool built (or its rule restarted) at `start`.
    fn new(start: u128, interval_ms: u64, window: usize) -> Scaler {
        let interval = u128::from(interval_ms) * MS;
        let every = interval / window as u128;
        assert_eq!(every * window as u128, interval, "whole sample periods");
        Scaler {
            every,
            window,
            interval,
            samples: VecDeque::new(),
            next_sample: start + every,
            next_eval: start + interval,
        }
    }

    /// An event at `now`: "samples are taken at those events, and the
    /// periods with no event in between are filled with the (unchanged)
    /// demand" — every sample due since the last event is the demand that
    /// held until this event. Then, if an evaluation is due ("every
    /// `interval`"), the new limit, if it changes.
    ///
    /// Reading chosen where the docs are loose: "every interval" is taken as
    /// "at the first event at least `interval` after the previous
    /// evaluation" (the first: `interval` after the pool was built). The
    /// evaluation can only happen at an event ("No background thread").
    fn observe(
        &mut self,
        now: u128,
        demand: usize,
        limit: usize,
        bounds: (usize, usize),
        mutant: Option<Mutant>,
    ) -> Option<usize> {
        if self.next_sample <= now {
            let due = (now - self.next_sample) / self.every + 1;
            for _ in 0..due.min(self.window as u128) {
                if self.samples.len() == self.window {
                    self.samples.pop_front();
                }
                self.samples.push_back(demand);
            }
            self.next_sample += due * self.every;
        }
        if now < self.next_eval || self.samples.is_empty() {
            return None;
        }
        self.next_eval = match mutant {
            Some(Mutant::FixedSchedule) => (now / self.interval + 1) * self.interval,
            _ => now + self.interval,
        };
        let n = self.samples.len();
        let sum: usize = self.samples.iter().sum();
        let mut target = target(sum, n, limit);
        if mutant == Some(Mutant::GrowByOne) {
            target = target.min(limit + 1);
        }
        let target = target.clamp(bounds.0, bounds.1);
        (target != limit).then_some(target)
    }
}

/// The rule, with `D = sum / n` kept exact (integers):
/// * `D > L`: grow to `ceil(D)`, at least `L + 1`, at most `2 L` per step
///   (at `L = 0` the "at least `L + 1`" wins: the docs of `size(0)` say an
///   evaluation takes such a pool out of 0);
/// * `D < L / 2`: shrink to `ceil(D * 1.25)`, at most halving per step
///   ("an odd limit keeps the larger half" is the only halving that keeps
///   at least half), never below 1;
/// * otherwise keep `L`.
fn target(sum: usize, n: usize, limit: usize) -> usize {
    if sum > limit * n {
        let ceil = sum.div_ceil(n);
        ceil.clamp(limit + 1, (2 * limit).max(limit + 1))
    } else if 2 * sum < limit * n {
        (5 * sum).div_ceil(4 * n).max(limit.div_ceil(2)).max(1)
    } else {
        limit
    }
}

fn reason_index(reason: Rejected) -> usize {
    Rejected::ALL
        .iter()
        .position(|&r| r == reason)
        .expect("a known reason")
}

#[derive(Clone, Debug)]
struct Model {
    order: Order,
    kind: Kind,
    limit: usize,
    bounds: (usize, usize),
    max_waiting: Option<usize>,
    /// µs.
    timeout: Option<u128>,
    paused: bool,
    closed: bool,
    running: usize,
    queue: Vec<usize>,
    calls: BTreeMap<usize, ModelCall>,
    woken: Vec<usize>,
    events: Vec<Event>,
    submitted: u64,
    completed: u64,
    cancelled: u64,
    rejected: [u64; 4],
    /// The pool's clock reading (ns).
    now: u128,
    scaler: Option<Scaler>,
    /// Limit changes the autoscaler made (coverage).
    moves: u64,
    /// A deliberate error (`a_wrong_model_is_caught`).
    mutant: Option<Mutant>,
    /// A `shutdown` future: its deadline (ns) and whether its timer fired.
    shutdown: Option<(u128, bool)>,
    /// Its `drained()` waker is registered with the pool.
    drain_registered: bool,
}

/// Deliberately wrong models, each of which the comparison must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutant {
    /// Timers never fire.
    NoTimeouts,
    /// The autoscaler never moves.
    NoAutoscale,
    /// The autoscaler grows by one slot at most.
    GrowByOne,
    /// Evaluations on the fixed schedule from the pool's creation.
    FixedSchedule,
    /// A timed-out call is turned away even if handed a slot first.
    TimeoutWins,
    /// `try_acquire` waits like `acquire` would (counted as queued).
    TryQueues,
    /// `shutdown`'s deadline turns nobody away.
    ShutdownWaits,
}

impl Model {
    fn new(config: &Config) -> Model {
        Model {
            order: config.order,
            kind: config.kind,
            limit: config.size,
            bounds: config.bounds,
            max_waiting: config.max_waiting,
            timeout: config.timeout_ms.map(|ms| u128::from(ms) * MS),
            paused: false,
            closed: false,
            running: 0,
            queue: Vec::new(),
            calls: BTreeMap::new(),
            woken: Vec::new(),
            events: Vec::new(),
            submitted: 0,
            completed: 0,
            cancelled: 0,
            rejected: [0; 4],
            now: config.offset,
            scaler: (config.kind == Kind::Autoscale)
                .then(|| Scaler::new(0, config.interval_ms, config.window)),
            moves: 0,
            mutant: None,
            shutdown: None,
            drain_registered: false,
        }
    }

    fn live_calls(&self) -> Vec<usize> {
        let live = self.calls.iter().filter(|(_, c)| c.state != State::Gone);
        live.map(|(&call, _)| call).collect()
    }

    fn state(&self, call: usize) -> Option<State> {
        self.calls.get(&call).map(|c| c.state)
    }

    fn call(&mut self, call: usize) -> &mut ModelCall {
        self.calls.get_mut(&call).expect("a known call")
    }

    fn set_state(&mut self, call: usize, state: State) {
        self.call(call).state = state;
    }

    fn next_waiter(&self) -> Option<usize> {
        let mut candidates = self.queue.iter().enumerate();
        match self.order {
            Order::Fifo => candidates.next(),
            Order::Lifo => candidates.next_back(),
            Order::Priority => candidates.min_by_key(|(_, call)| self.calls[call].weight),
        }
        .map(|(at, _)| at)
    }

    fn wake(&mut self, call: usize) {
        self.events.push(Event::Woken(call));
        if !self.woken.contains(&call) {
            self.woken.push(call);
        }
    }

    fn admit_waiting(&mut self) {
        while self.running < self.limit {
            let Some(at) = self.next_waiter() else { break };
            let call = self.queue.remove(at);
            self.running += 1;
            self.set_state(call, State::Admitted);
            self.wake(call);
        }
    }

    /// An autoscaler event: `demand` is the demand that held until now.
    /// Returns the new limit if an evaluation moved it (not yet applied).
    fn observe(&mut self, demand: usize) -> Option<usize> {
        let (now, limit, bounds, mutant) = (self.now, self.limit, self.bounds, self.mutant);
        let to = self
            .scaler
            .as_mut()?
            .observe(now, demand, limit, bounds, mutant);
        if mutant == Some(Mutant::NoAutoscale) {
            return None;
        }
        if to.is_some() {
            self.moves += 1;
        }
        to
    }

    /// An event whose new limit is applied at once (admitting waiters).
    fn event(&mut self, demand: usize) {
        if let Some(to) = self.observe(demand) {
            self.limit = to;
            self.admit_waiting();
        }
    }

    /// A slot frees. The evaluation this release makes decides whether the
    /// freed slot is handed on (a cut made here lets nobody in by the
    /// limit it replaces: README "Limits", `running <= limit` at every
    /// admission).
    fn release(&mut self) {
        let demand = self.running + self.queue.len();
        if let Some(to) = self.observe(demand) {
            self.limit = to;
        }
        self.running -= 1;
        self.admit_waiting();
    }

    fn reject(&mut self, call: usize, reason: Rejected) -> Polled {
        self.rejected[reason_index(reason)] += 1;
        self.set_state(call, State::Resolved);
        Polled::Rejected(reason)
    }

    /// The call holds a slot now (admitted on its first poll or polled
    /// after its admission): its work starts, or its permit is returned.
    fn start(&mut self, call: usize) -> Polled {
        self.set_state(call, State::Running);
        self.call(call).deadline = None;
        if self.calls[&call].form.is_permit() {
            return Polled::Granted;
        }
        self.events.push(Event::Started(call));
        self.poll_work(call)
    }

    fn poll_work(&mut self, call: usize) -> Polled {
        if self.calls[&call].finish {
            self.set_state(call, State::Resolved);
            self.completed += 1;
            self.release();
            Polled::Done(call)
        } else {
            Polled::Pending
        }
    }

    /// A call's first poll (or a `try_acquire`): the documented admission
    /// (closed, paused, a free slot with nobody waiting, the waiting bound,
    /// else the queue), and an intake event for the autoscaler.
    ///
    /// Where in an intake the evaluation falls is not documented; the
    /// model takes the reading `size(0)`'s docs give ("holds its calls until
    /// it is resized, or an intake event finds an evaluation due"): a call
    /// that finds no free slot is judged by the limit the evaluation sets
    /// (and the waiters it admits go first); a call that finds a free slot
    /// with nobody waiting takes it. Paused and closed turn a call away
    /// before it is taken in (no event).
    fn intake(&mut self, call: usize, may_wait: bool) -> Polled {
        self.submitted += 1;
        if self.closed {
            return self.reject(call, Rejected::Closed);
        }
        if self.paused {
            return self.reject(call, Rejected::Paused);
        }
        if self.queue.is_empty() && self.running < self.limit {
            self.running += 1;
            self.event(self.running - 1 + self.queue.len());
            return self.start(call);
        }
        self.event(self.running + self.queue.len());
        if self.queue.is_empty() && self.running < self.limit {
            self.running += 1;
            return self.start(call);
        }
        // `try_acquire`: "Rejected::Full if no slot is free (as if no call
        // could wait)".
        let bound = if may_wait || self.mutant == Some(Mutant::TryQueues) {
            self.max_waiting
        } else {
            Some(0)
        };
        if bound.is_some_and(|b| self.queue.len() >= b) {
            return self.reject(call, Rejected::Full);
        }
        self.queue.push(call);
        let deadline = self.timeout.map(|t| self.now + t);
        let c = self.call(call);
        c.state = State::Waiting;
        c.deadline = deadline;
        if self.timeout == Some(0) {
            // A zero timeout: it has waited that long as it starts waiting,
            // and is turned away by this very poll (and has left the queue:
            // an event, like any timed-out call's).
            self.leave(call, Some(Rejected::TimedOut));
            return Polled::Rejected(Rejected::TimedOut);
        }
        Polled::Pending
    }

    /// A waiting call leaves the queue (dropped, or timed out): an event
    /// for the autoscaler ("a waiting call that leaves: cancelled or timed
    /// out"), whose period before had it waiting.
    fn leave(&mut self, call: usize, reason: Option<Rejected>) {
        self.queue.retain(|&c| c != call);
        match reason {
            Some(reason) => self.rejected[reason_index(reason)] += 1,
            None => self.cancelled += 1,
        }
        let c = self.call(call);
        c.deadline = None;
        c.state = if reason.is_some() {
            State::Resolved
        } else {
            State::Gone
        };
        self.event(self.running + self.queue.len() + 1);
    }

    fn poll(&mut self, call: usize) -> Polled {
        self.woken.retain(|&c| c != call);
        match self.state(call).expect("a known call") {
            State::New => self.intake(call, true),
            State::Waiting => {
                // "Turns a call away with Rejected::TimedOut once it has
                // waited this long for a slot": its timer has fired, it is
                // still waiting, so this poll turns it away.
                if self.calls[&call].fired {
                    self.leave(call, Some(Rejected::TimedOut));
                    Polled::Rejected(Rejected::TimedOut)
                } else {
                    Polled::Pending
                }
            }
            // Handed a slot before it was polled: it holds it, even if its
            // deadline passed meanwhile. The docs do not say which wins; the
            // model keeps the slot handed over (see `give_up`, and the
            // README's hand-off rule: a freed slot goes to that waiter).
            State::Admitted
                if self.mutant == Some(Mutant::TimeoutWins) && self.calls[&call].fired =>
            {
                self.rejected[reason_index(Rejected::TimedOut)] += 1;
                self.set_state(call, State::Resolved);
                self.call(call).deadline = None;
                self.release();
                Polled::Rejected(Rejected::TimedOut)
            }
            State::Admitted => self.start(call),
            State::Running => self.poll_work(call),
            State::TurnedAway => {
                self.call(call).deadline = None;
                self.set_state(call, State::Resolved);
                Polled::Rejected(Rejected::Closed)
            }
            State::Resolved | State::Gone => unreachable!("not pollable"),
        }
    }

    fn drop_call(&mut self, call: usize) {
        self.woken.retain(|&c| c != call);
        let form = self.calls[&call].form;
        match self.state(call).expect("a known call") {
            State::Waiting => return self.leave(call, None),
            State::Admitted => {
                self.cancelled += 1;
                self.set_state(call, State::Gone);
                self.release();
            }
            State::Running => {
                // A permit dropped: that call ends, completed. A running
                // submit dropped: cancelled.
                if form.is_permit() {
                    self.completed += 1;
                } else {
                    self.cancelled += 1;
                }
                self.set_state(call, State::Gone);
                self.release();
            }
            State::New | State::TurnedAway | State::Resolved | State::Gone => {}
        }
        let c = self.call(call);
        c.state = State::Gone;
        c.deadline = None;
    }

    fn set_limit(&mut self, target: usize) -> usize {
        self.limit = target.clamp(self.bounds.0, self.bounds.1);
        self.admit_waiting();
        self.limit
    }

    fn drained(&self) -> bool {
        self.closed && self.running == 0 && self.queue.is_empty()
    }

    /// Wakes a registered `drained()` waker once the pool drains.
    fn settle_drain(&mut self) {
        if self.drain_registered && self.drained() {
            self.drain_registered = false;
            self.events.push(Event::ShutdownWoken);
        }
    }

    /// `Pool::shutdown(Some(timeout))`: "Closes the pool and waits for
    /// waiting and running calls to finish. With a timeout, it returns by
    /// the deadline whatever the calls do: if the pool has not drained by
    /// then, the calls still waiting are turned away (like `abort` ...),
    /// the ones still running are left to finish ..., and the error says
    /// how many of each there were." The deadline counts from its first
    /// poll (an `async fn`).
    fn poll_shutdown(&mut self) -> Shut {
        let (deadline, fired) = self.shutdown.expect("a shutdown future");
        self.closed = true;
        if self.drained() {
            self.shutdown = None;
            self.drain_registered = false;
            return Shut::Drained;
        }
        self.drain_registered = true;
        if !(fired || deadline <= self.now) || self.mutant == Some(Mutant::ShutdownWaits) {
            return Shut::Pending;
        }
        let turned = self.abort();
        self.settle_drain();
        self.shutdown = None;
        self.drain_registered = false;
        if turned == 0 && self.running == 0 && self.queue.is_empty() {
            Shut::Drained
        } else {
            Shut::TimedOut(self.running, 0, turned, 0)
        }
    }

    fn abort(&mut self) -> usize {
        // An abort turns waiting calls away: an event (the period before
        // had them), its new limit applied once they are gone.
        let scaled = self.observe(self.running + self.queue.len());
        self.closed = true;
        let mut turned = Vec::new();
        while let Some(at) = self.next_waiter() {
            turned.push(self.queue.remove(at));
        }
        let count = turned.len();
        for call in turned {
            self.rejected[reason_index(Rejected::Closed)] += 1;
            self.set_state(call, State::TurnedAway);
            self.wake(call);
        }
        if let Some(to) = scaled {
            self.limit = to;
        }
        count
    }

    fn pollable(&self, call: usize) -> bool {
        matches!(
            self.state(call),
            Some(State::New | State::Waiting | State::Admitted | State::TurnedAway)
        ) || (self.state(call) == Some(State::Running) && !self.calls[&call].form.is_permit())
    }

    fn apply(&mut self, op: Op) -> Vec<Outcome> {
        let mut out = Vec::new();
        match op {
            Op::Submit { call, weight, form } => {
                self.calls.insert(
                    call,
                    ModelCall {
                        state: State::New,
                        weight,
                        form,
                        finish: false,
                        deadline: None,
                        fired: false,
                    },
                );
            }
            Op::Try {
                call,
                weight,
                owned,
            } => {
                let form = if owned { Form::TryOwned } else { Form::Try };
                self.calls.insert(
                    call,
                    ModelCall {
                        state: State::New,
                        weight,
                        form,
                        finish: false,
                        deadline: None,
                        fired: false,
                    },
                );
                out.push(Outcome::Polled(call, self.intake(call, false)));
            }
            Op::Poll { call } => out.push(Outcome::Polled(call, self.poll(call))),
            Op::Finish { call } => {
                let c = &self.calls[&call];
                if c.form.is_permit() && c.state == State::Running {
                    self.completed += 1;
                    self.set_state(call, State::Resolved);
                    self.release();
                } else {
                    self.call(call).finish = true;
                    out.push(Outcome::Polled(call, self.poll(call)));
                }
            }
            Op::Drop { call } => self.drop_call(call),
            Op::PollWoken => {
                for call in self.woken.clone() {
                    if self.pollable(call) {
                        out.push(Outcome::Polled(call, self.poll(call)));
                    }
                }
            }
            Op::Advance(_) | Op::AdvanceToEnd => {
                let by = match op {
                    Op::Advance(ms) => u128::from(ms) * MS,
                    _ => END,
                };
                self.now = (self.now + by).min(END);
                // Timers that fire wake their calls (in no documented
                // order: the harness sorts the wake-ups of one advance).
                let now = self.now;
                let fire = self.mutant != Some(Mutant::NoTimeouts);
                let due: Vec<usize> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| fire && !c.fired && c.deadline.is_some_and(|d| d <= now))
                    .map(|(&id, _)| id)
                    .collect();
                for call in due {
                    self.call(call).fired = true;
                    self.wake(call);
                }
                if let Some((deadline, fired)) = &mut self.shutdown {
                    if !*fired && *deadline <= now {
                        *fired = true;
                        self.events.push(Event::ShutdownWoken);
                    }
                }
            }
            Op::Scale(delta) => {
                let target = self.limit.saturating_add_signed(delta);
                out.push(Outcome::Size(self.set_limit(target)));
            }
            Op::Resize(size) => out.push(Outcome::Size(self.set_limit(size))),
            Op::SetBounds(min, max) => {
                if self.kind == Kind::Fixed || max == 0 || min > max {
                    out.push(Outcome::BoundsRefused);
                } else {
                    self.bounds = (min, max);
                    out.push(Outcome::Size(self.set_limit(self.limit)));
                }
            }
            Op::Pause => self.paused = true,
            Op::Resume => {
                self.paused = false;
                self.admit_waiting();
            }
            Op::Close => self.closed = true,
            Op::Abort => {
                self.abort();
            }
            Op::Shutdown(ms) => {
                self.shutdown = Some((self.now + u128::from(ms) * MS, false));
                out.push(Outcome::Shutdown(self.poll_shutdown()));
            }
            Op::PollShutdown => {
                if self.shutdown.is_some() {
                    out.push(Outcome::Shutdown(self.poll_shutdown()));
                }
            }
            Op::DropShutdown => {
                self.shutdown = None;
                self.drain_registered = false;
            }
            Op::SetMaxWaiting(bound) => self.max_waiting = bound,
            Op::SetTimeout(ms) => self.timeout = ms.map(|ms| u128::from(ms) * MS),
            // "Restarts an autoscaled pool's queue-depth rule with new
            // timing (fixed pools ignore it)": no samples, the schedule
            // counted from now. Its sample times then fall on event times
            // (both at half milliseconds): a sample due at an event's time
            // is taken as the demand that held until the event ("the
            // demand since the previous event"), a reading the docs leave
            // open.
            Op::SetTiming(interval_ms, window) => {
                if self.scaler.is_some() {
                    self.scaler = Some(Scaler::new(self.now, interval_ms, window));
                }
            }
        }
        self.settle_drain();
        out
    }
}

// ---- the harness: the real pool, polled by hand --------------------------------------

type Log = Arc<Mutex<Vec<Event>>>;

struct LogWaker {
    event: Event,
    log: Log,
}

impl Wake for LogWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.log.lock().unwrap().push(self.event);
    }
}

/// A submit's work: pending until told to finish; logs its first poll.
struct Work {
    call: usize,
    log: Log,
    finish: Arc<AtomicBool>,
    started: bool,
}

impl Future for Work {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<usize> {
        if !self.started {
            self.started = true;
            self.log.lock().unwrap().push(Event::Started(self.call));
        }
        if self.finish.load(Ordering::SeqCst) {
            Poll::Ready(self.call)
        } else {
            Poll::Pending
        }
    }
}

/// What a call gave back.
enum Got<'p> {
    Out(usize),
    Permit(#[allow(dead_code)] Permit<'p>),
    Owned(#[allow(dead_code)] OwnedPermit),
}

/// Drops a permit: an owned one on another thread (it is `'static`, made
/// "to move into a spawned task"; the thread is joined, so the case stays
/// deterministic). That thread enters the case's runtime, if any: a
/// `TokioClock` read outside its paused runtime is "the real monotonic
/// clock" (its docs), which the pool reads as its clock going back and
/// then on by real time — no longer the case's time.
fn release(held: Got<'_>) {
    match held {
        Got::Owned(permit) => {
            let runtime = tokio::runtime::Handle::try_current().ok();
            std::thread::spawn(move || {
                let _entered = runtime.as_ref().map(|runtime| runtime.enter());
                drop(permit)
            })
            .join()
            .expect("the drop does not panic")
        }
        other => drop(other),
    }
}

type CallFuture<'p> = Pin<Box<dyn Future<Output = Result<Got<'p>, Rejected>> + 'p>>;

struct Call<'p> {
    future: Option<CallFuture<'p>>,
    resolved: bool,
    waker: Waker,
    finish: Arc<AtomicBool>,
    /// A permit it holds.
    held: Option<Got<'p>>,
}

/// Moves the pool's clock.
enum Driver<'a> {
    Manual(&'a ManualClock),
    #[cfg(feature = "tokio")]
    Tokio(&'a tokio::runtime::Runtime),
}

impl Driver<'_> {
    fn advance(&self, by: Duration) {
        match self {
            Driver::Manual(clock) => clock.advance(by),
            #[cfg(feature = "tokio")]
            Driver::Tokio(rt) => rt.block_on(tokio::time::advance(by)),
        }
    }
}

struct Harness<'p> {
    pool: &'p Pool,
    driver: Driver<'p>,
    log: Log,
    calls: BTreeMap<usize, Call<'p>>,
    woken: Vec<usize>,
    seen: usize,
    shutdown: Option<ShutdownFuture<'p>>,
    shutdown_waker: Waker,
}

type ShutdownFuture<'p> =
    Pin<Box<dyn Future<Output = Result<(), pool_runtime::ShutdownTimedOut>> + 'p>>;

impl<'p> Harness<'p> {
    fn new(pool: &'p Pool, driver: Driver<'p>) -> Self {
        let log = Log::default();
        Harness {
            pool,
            driver,
            shutdown: None,
            shutdown_waker: Waker::from(Arc::new(LogWaker {
                event: Event::ShutdownWoken,
                log: log.clone(),
            })),
            log,
            calls: BTreeMap::new(),
            woken: Vec::new(),
            seen: 0,
        }
    }

    fn add(&mut self, call: usize, future: Option<CallFuture<'p>>, finish: Arc<AtomicBool>) {
        let waker = Waker::from(Arc::new(LogWaker {
            event: Event::Woken(call),
            log: self.log.clone(),
        }));
        self.calls.insert(
            call,
            Call {
                future,
                resolved: false,
                waker,
                finish,
                held: None,
            },
        );
    }

    /// Polls a call; the wake-ups before and during the poll are folded
    /// into `woken` around it (a call woken again by its own poll's doing
    /// stays woken).
    fn poll(&mut self, call: usize) -> Polled {
        self.note_wakes();
        self.woken.retain(|&c| c != call);
        let c = self.calls.get_mut(&call).expect("a known call");
        let future = c.future.as_mut().expect("a live call");
        let polled = future.as_mut().poll(&mut Context::from_waker(&c.waker));
        let out = match polled {
            Poll::Pending => Polled::Pending,
            Poll::Ready(result) => {
                c.resolved = true;
                match result {
                    Ok(Got::Out(out)) => Polled::Done(out),
                    Ok(held) => {
                        c.held = Some(held);
                        Polled::Granted
                    }
                    Err(reason) => Polled::Rejected(reason),
                }
            }
        };
        self.note_wakes();
        out
    }

    fn apply(&mut self, op: Op) -> Vec<Outcome> {
        let mut out = Vec::new();
        let pool = self.pool;
        match op {
            Op::Submit { call, weight, form } => {
                let finish = Arc::new(AtomicBool::new(false));
                let future: CallFuture<'p> = match form {
                    Form::Submit => {
                        let work = Work {
                            call,
                            log: self.log.clone(),
                            finish: finish.clone(),
                            started: false,
                        };
                        let submit = pool.submit_weighted(weight, work);
                        Box::pin(async move { submit.await.map(Got::Out) })
                    }
                    Form::Acquire => {
                        Box::pin(
                            async move { pool.acquire_weighted(weight).await.map(Got::Permit) },
                        )
                    }
                    Form::AcquireOwned => {
                        Box::pin(async move { pool.acquire_owned(weight).await.map(Got::Owned) })
                    }
                    Form::Try | Form::TryOwned => unreachable!("made by Op::Try"),
                };
                self.add(call, Some(future), finish);
            }
            Op::Try {
                call,
                weight,
                owned,
            } => {
                let finish = Arc::new(AtomicBool::new(false));
                self.add(call, None, finish);
                let got = if owned {
                    pool.try_acquire_owned(weight).map(Got::Owned)
                } else {
                    pool.try_acquire().map(Got::Permit)
                };
                let c = self.calls.get_mut(&call).expect("just added");
                c.resolved = true;
                out.push(Outcome::Polled(
                    call,
                    match got {
                        Ok(held) => {
                            c.held = Some(held);
                            Polled::Granted
                        }
                        Err(reason) => Polled::Rejected(reason),
                    },
                ));
            }
            Op::Poll { call } => out.push(Outcome::Polled(call, self.poll(call))),
            Op::Finish { call } => {
                let c = self.calls.get_mut(&call).expect("a known call");
                if let Some(held) = c.held.take() {
                    release(held);
                } else {
                    c.finish.store(true, Ordering::SeqCst);
                    out.push(Outcome::Polled(call, self.poll(call)));
                }
            }
            Op::Drop { call } => {
                self.note_wakes();
                self.woken.retain(|&c| c != call);
                let c = self.calls.get_mut(&call).expect("a known call");
                drop(c.future.take());
                if let Some(held) = c.held.take() {
                    release(held);
                }
            }
            Op::PollWoken => {
                for call in self.woken.clone() {
                    let c = &self.calls[&call];
                    if c.future.is_some() && !c.resolved {
                        out.push(Outcome::Polled(call, self.poll(call)));
                    }
                }
            }
            Op::Advance(_) | Op::AdvanceToEnd => {
                let by = match op {
                    Op::Advance(ms) => Duration::from_millis(ms),
                    _ => Duration::MAX,
                };
                let start = self.log.lock().unwrap().len();
                self.driver.advance(by);
                // Timers that fire together fire in no documented order.
                let mut log = self.log.lock().unwrap();
                log[start..].sort_by_key(|event| event.key());
            }
            Op::Scale(delta) => out.push(Outcome::Size(pool.scale(delta))),
            Op::Resize(size) => out.push(Outcome::Size(pool.resize(size))),
            Op::SetBounds(min, max) => out.push(match pool.set_bounds(min, max) {
                Ok(size) => Outcome::Size(size),
                Err(_) => Outcome::BoundsRefused,
            }),
            Op::Pause => pool.pause(),
            Op::Resume => pool.resume(),
            Op::Close => pool.close(),
            Op::Abort => pool.abort(),
            Op::Shutdown(ms) => {
                self.shutdown = Some(Box::pin(pool.shutdown(Some(Duration::from_millis(ms)))));
                out.push(Outcome::Shutdown(self.poll_shutdown()));
            }
            Op::PollShutdown => {
                if self.shutdown.is_some() {
                    out.push(Outcome::Shutdown(self.poll_shutdown()));
                }
            }
            Op::DropShutdown => self.shutdown = None,
            Op::SetMaxWaiting(bound) => pool
                .set_max_waiting(bound)
                .expect("a small bound is in range"),
            Op::SetTimeout(ms) => pool.set_admission_timeout(ms.map(Duration::from_millis)),
            Op::SetTiming(interval_ms, window) => pool
                .set_autoscale_timing(pool_runtime::AutoscaleTiming {
                    interval: Duration::from_millis(interval_ms),
                    window,
                })
                .expect("a valid timing"),
        }
        self.note_wakes();
        out
    }

    fn poll_shutdown(&mut self) -> Shut {
        let future = self.shutdown.as_mut().expect("a shutdown future");
        let polled = future
            .as_mut()
            .poll(&mut Context::from_waker(&self.shutdown_waker));
        let shut = match polled {
            Poll::Pending => return Shut::Pending,
            Poll::Ready(Ok(())) => Shut::Drained,
            Poll::Ready(Err(e)) => Shut::TimedOut(e.running, e.nested, e.turned_away, e.waiting),
        };
        self.shutdown = None;
        shut
    }

    fn note_wakes(&mut self) {
        let log = self.log.lock().unwrap();
        for event in &log[self.seen..] {
            if let Event::Woken(call) = *event {
                if !self.woken.contains(&call) {
                    self.woken.push(call);
                }
            }
        }
        self.seen = log.len();
    }

    fn compare(&self, model: &Model) -> String {
        let mut diff = String::new();
        macro_rules! check {
            ($what:expr, $pool:expr, $model:expr) => {{
                let (pool, model) = (&$pool, &$model);
                if pool != model {
                    let _ = writeln!(diff, "  {}: pool {pool:?}, model {model:?}", $what);
                }
            }};
        }
        let s = self.pool.stats();
        check!("stats.size", s.size, model.limit);
        check!("stats.running", s.running, model.running);
        check!("stats.nested", s.nested, 0);
        check!("stats.waiting", s.waiting, model.queue.len());
        check!("stats.completed", s.completed, model.completed);
        check!("stats.panicked", s.panicked, 0);
        check!("stats.cancelled", s.cancelled, model.cancelled);
        check!(
            "stats.rejected",
            std::array::from_fn::<u64, 4, _>(|i| s.rejected_for(Rejected::ALL[i])),
            model.rejected
        );
        check!("stats.submitted()", s.submitted(), model.submitted);
        check!("stats.paused", s.paused, model.paused);
        check!("stats.closed", s.closed, model.closed);
        check!("size()", self.pool.size(), model.limit);
        check!("bounds()", self.pool.bounds(), model.bounds);
        check!("max_waiting()", self.pool.max_waiting(), model.max_waiting);
        check!(
            "admission_timeout()",
            self.pool.admission_timeout(),
            model.timeout.map(|ns| Duration::from_nanos(ns as u64))
        );
        check!("woken, not polled since", self.woken, model.woken);
        let log = self.log.lock().unwrap();
        if *log != model.events {
            let common = log
                .iter()
                .zip(&model.events)
                .take_while(|(a, b)| a == b)
                .count();
            check!(
                "events after the first common ones",
                log[common..],
                model.events[common..]
            );
        }
        diff
    }
}

// ---- generating and running cases ----------------------------------------------------

/// An admission timeout (ms), now and then zero.
fn random_timeout(rng: &mut Rng) -> u64 {
    if rng.percent(5) {
        0
    } else {
        1 + rng.below(60) as u64
    }
}

fn random_weight(rng: &mut Rng) -> i64 {
    match rng.below(10) {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => rng.next_u64() as i64,
        _ => rng.below(5) as i64 - 2,
    }
}

fn random_op(rng: &mut Rng, model: &Model, config: &Config, next_call: &mut usize) -> Op {
    use State::*;
    let pick_call = |rng: &mut Rng, accept: &dyn Fn(&ModelCall) -> bool| -> Option<usize> {
        let ids: Vec<usize> = model
            .calls
            .iter()
            .filter(|(_, c)| accept(c))
            .map(|(&id, _)| id)
            .collect();
        (!ids.is_empty()).then(|| ids[rng.below(ids.len())])
    };
    loop {
        let roll = rng.below(1020);
        let op = match roll {
            0..=179 => {
                let call = *next_call;
                *next_call += 1;
                let form = match rng.below(10) {
                    0..=4 => Form::Submit,
                    5..=7 => Form::Acquire,
                    _ => Form::AcquireOwned,
                };
                Some(Op::Submit {
                    call,
                    weight: random_weight(rng),
                    form,
                })
            }
            180..=229 => {
                let call = *next_call;
                *next_call += 1;
                let owned = rng.percent(50);
                Some(Op::Try {
                    call,
                    weight: if owned { random_weight(rng) } else { 0 },
                    owned,
                })
            }
            230..=399 => {
                let new_first = rng.percent(60);
                pick_call(rng, &|c| {
                    if new_first {
                        c.state == New
                    } else {
                        matches!(c.state, New | Waiting | Admitted | TurnedAway)
                            || (c.state == Running && !c.form.is_permit())
                    }
                })
                .map(|call| Op::Poll { call })
            }
            400..=519 => pick_call(rng, &|c| matches!(c.state, Running | Admitted))
                .map(|call| Op::Finish { call }),
            520..=589 => {
                pick_call(rng, &|c| !matches!(c.state, Gone)).map(|call| Op::Drop { call })
            }
            590..=669 => Some(Op::PollWoken),
            670..=829 => {
                let interval = config.interval_ms;
                let ms = match rng.below(20) {
                    0..=11 => 1 + rng.below(10) as u64,
                    12..=16 => 1 + rng.below(interval as usize) as u64,
                    17..=18 => interval + rng.below(2 * interval as usize) as u64,
                    // Many sample periods, and evaluations, at once.
                    _ => {
                        interval * (3 + rng.below(200) as u64) + rng.below(interval as usize) as u64
                    }
                };
                Some(Op::Advance(ms))
            }
            830..=832 => (config.clock == ClockKind::Manual).then_some(Op::AdvanceToEnd),
            833..=859 => Some(Op::Scale(rng.pick(&[-2, -1, 1, 2]))),
            860..=879 => Some(Op::Resize(rng.below(5))),
            880..=894 => {
                (model.kind == Kind::Autoscale).then(|| Op::SetBounds(rng.below(4), rng.below(6)))
            }
            895..=924 => Some(Op::Pause),
            925..=954 => Some(Op::Resume),
            955..=969 => Some(Op::SetMaxWaiting(rng.percent(50).then(|| rng.below(4)))),
            970..=984 => (config.clock != ClockKind::Manual)
                .then(|| Op::SetTimeout(rng.percent(80).then(|| random_timeout(rng)))),
            985..=989 => Some(Op::SetTiming(
                rng.pick(&[20, 40, 100, 200]),
                rng.pick(&[1, 2, 4, 5]),
            )),
            1000..=1009 => (config.clock != ClockKind::Manual && model.shutdown.is_none())
                .then(|| Op::Shutdown(rng.pick(&[0, 1, 5, 20, 60]))),
            1010..=1016 => model.shutdown.is_some().then_some(Op::PollShutdown),
            1017..=1019 => model.shutdown.is_some().then_some(Op::DropShutdown),
            _ => Some(if rng.percent(50) {
                Op::Close
            } else {
                Op::Abort
            }),
        };
        if let Some(op) = op {
            return op;
        }
    }
}

fn generate(seed: u64) -> (Config, Vec<Op>) {
    let mut rng = Rng::new(seed);
    let mut config = Config::random(&mut rng);
    // A crowded case: a priority pool and a deep queue of mostly distinct
    // weights (past 64 of them its lists' map spills to a B-tree), which
    // time out, are cancelled and admitted from anywhere in it.
    let crowded = rng.percent(10);
    if rng.percent(20) {
        // Events at whole milliseconds, on sample times: a sample due at an
        // event's time takes the demand that held until the event (the
        // reading `set_autoscale_timing` cases need anyway).
        config.offset = 0;
    }
    let count = if crowded {
        config.order = Order::Priority;
        config.max_waiting = None;
        400
    } else {
        20 + rng.below(OPS * 2)
    };
    let mut model = Model::new(&config);
    let mut next_call = 0;
    let mut ops = Vec::with_capacity(count + 16);
    for _ in 0..count {
        if crowded && rng.percent(40) {
            let call = next_call;
            next_call += 1;
            let weight = match rng.percent(80) {
                true => rng.next_u64() as i64,
                false => random_weight(&mut rng),
            };
            let form = rng.pick(&[
                Form::Submit,
                Form::Submit,
                Form::Acquire,
                Form::AcquireOwned,
            ]);
            for op in [Op::Submit { call, weight, form }, Op::Poll { call }] {
                model.apply(op);
                ops.push(op);
            }
            continue;
        }
        let op = random_op(&mut rng, &model, &config, &mut next_call);
        model.apply(op);
        ops.push(op);
    }
    let mut left = model.live_calls();
    while !left.is_empty() {
        let call = left.swap_remove(rng.below(left.len()));
        ops.push(Op::Drop { call });
    }
    (config, ops)
}

/// What a passing case covered.
#[derive(Default, Debug, Clone, Copy)]
struct Coverage {
    timed_out: u64,
    moves: u64,
    granted: u64,
    /// `shutdown` futures that returned drained, and timed out.
    shut_drained: u64,
    shut_timed_out: u64,
}

fn run(config: &Config, ops: &[Op], mutant: Option<Mutant>) -> Result<Coverage, (usize, String)> {
    match config.clock {
        ClockKind::Manual => {
            let clock = ManualClock::new();
            let pool = config.build(clock.clone());
            clock.advance(Duration::from_nanos(config.offset as u64));
            run_on(config, &pool, Driver::Manual(&clock), ops, mutant)
        }
        #[cfg(feature = "tokio")]
        ClockKind::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("a runtime");
            let _entered = rt.enter();
            // The clock's origin half a millisecond into the runtime's time,
            // so that with the pool's clock at `k ms + 0.5 ms` the runtime's
            // is at whole milliseconds, where tokio's timer fires exactly.
            let half = Duration::from_nanos(config.offset as u64);
            rt.block_on(tokio::time::advance(half));
            let pool = config.build(pool_runtime::TokioClock::new());
            rt.block_on(tokio::time::advance(half));
            run_on(config, &pool, Driver::Tokio(&rt), ops, mutant)
        }
    }
}

fn run_on(
    config: &Config,
    pool: &Pool,
    driver: Driver<'_>,
    ops: &[Op],
    mutant: Option<Mutant>,
) -> Result<Coverage, (usize, String)> {
    let mut model = Model::new(config);
    model.mutant = mutant;
    let mut harness = Harness::new(pool, driver);
    let mut coverage = Coverage::default();
    let initial = harness.compare(&model);
    if !initial.is_empty() {
        return Err((
            0,
            format!("a fresh pool differs from the model:\n{initial}"),
        ));
    }
    for (step, &op) in ops.iter().enumerate() {
        let expected = model.apply(op);
        let got = match catch_unwind(AssertUnwindSafe(|| harness.apply(op))) {
            Ok(got) => got,
            Err(_) => {
                std::mem::forget(harness);
                return Err((step, "  the pool panicked".into()));
            }
        };
        for outcome in &got {
            match outcome {
                Outcome::Polled(_, Polled::Granted) => coverage.granted += 1,
                Outcome::Shutdown(Shut::Drained) => coverage.shut_drained += 1,
                Outcome::Shutdown(Shut::TimedOut(..)) => coverage.shut_timed_out += 1,
                _ => {}
            }
        }
        let mut message = String::new();
        if got != expected {
            let _ = writeln!(message, "  results: pool {got:?}, model {expected:?}");
        }
        message += &harness.compare(&model);
        if !message.is_empty() {
            let log = harness.log.lock().unwrap().clone();
            let _ = writeln!(
                message,
                "  pool events: {log:?}\n  model events: {:?}\n  pool woken {:?}",
                model.events, harness.woken
            );
            std::mem::forget(harness);
            return Err((step, message));
        }
    }
    drop(harness);
    let s = pool.stats();
    if s.running != 0
        || s.waiting != 0
        || s.completed + s.rejected_total() + s.cancelled != model.submitted
    {
        return Err((
            ops.len(),
            format!(
                "  the quiet pool does not add up: {s:?}, submitted {}",
                model.submitted
            ),
        ));
    }
    coverage.timed_out = model.rejected[reason_index(Rejected::TimedOut)];
    coverage.moves = model.moves;
    Ok(coverage)
}

fn check_case(seed: u64) -> Coverage {
    let (config, ops) = generate(seed);
    match run(&config, &ops, None) {
        Ok(coverage) => coverage,
        Err((step, message)) => {
            let mut report = format!(
                "the pool differs from the model\n  seed: {seed:#x} (replay: \
                 POOLED_MODEL_TIMED_SEED={seed:#x})\n  pool: {config:?}\nat step {step} of {} \
                 ({:?}):\n{message}\nthe operations up to the failure:\n",
                ops.len(),
                ops.get(step)
            );
            for (i, op) in ops.iter().enumerate().take(step + 1) {
                let _ = writeln!(report, "  {i:3}: {op:?}");
            }
            panic!("{report}");
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={value} is not a number")))
}

#[test]
fn timeouts_autoscaling_and_permits_match_the_reference_model() {
    if let Some(seed) = env_u64("POOLED_MODEL_TIMED_SEED") {
        check_case(seed);
        return;
    }
    let cases = env_u64("POOLED_MODEL_TIMED_CASES").unwrap_or(DEFAULT_CASES);
    let base = env_u64("POOLED_MODEL_TIMED_BASE").unwrap_or(DEFAULT_BASE_SEED);
    let mut total = Coverage::default();
    for index in 0..cases {
        let c = check_case(case_seed(base, index));
        total.timed_out += c.timed_out;
        total.moves += c.moves;
        total.granted += c.granted;
        total.shut_drained += c.shut_drained;
        total.shut_timed_out += c.shut_timed_out;
    }
    eprintln!("{cases} cases: {total:?}");
    if cases >= 100 {
        assert!(total.moves > 0, "the autoscaler never moved: {total:?}");
        assert!(total.granted > 0, "no permit was granted: {total:?}");
        #[cfg(feature = "tokio")]
        assert!(total.timed_out > 0, "no call timed out: {total:?}");
        #[cfg(feature = "tokio")]
        assert!(
            total.shut_drained > 0 && total.shut_timed_out > 0,
            "shutdown: {total:?}"
        );
    }
}

/// The comparison must be able to fail: each deliberately wrong model
/// disagrees with the pool within the first cases. (A mutant's error would
/// steer the generated operations too, so the operations are generated by
/// the right model and only the comparison uses the mutant.)
#[test]
fn a_wrong_model_is_caught() {
    for mutant in [
        Mutant::NoTimeouts,
        Mutant::NoAutoscale,
        Mutant::GrowByOne,
        Mutant::FixedSchedule,
        Mutant::TimeoutWins,
        Mutant::TryQueues,
        Mutant::ShutdownWaits,
    ] {
        #[cfg(not(feature = "tokio"))]
        if matches!(
            mutant,
            Mutant::NoTimeouts | Mutant::TimeoutWins | Mutant::ShutdownWaits
        ) {
            continue;
        }
        let caught = (0..2_000).any(|index| {
            let (config, ops) = generate(case_seed(DEFAULT_BASE_SEED, index));
            run(&config, &ops, Some(mutant)).is_err()
        });
        assert!(caught, "{mutant:?} was never caught");
    }
}
