//! A randomized model test: the pool against a reference model (a plain queue
//! and a few counters), over thousands of random operation sequences on every
//! order and kind.
//!
//! Each case builds a pool and drives it on this thread at the poll level:
//! calls are futures polled by hand with wakers that log their wake-ups, and
//! their work is a future the case controls (it logs its first poll, and
//! finishes, panics or makes a nested call into the pool when told to).
//! Operations: submit (`submit_weighted`, `submit_judged`, and, on a group's
//! pool, the never-rejecting `submit_wait`) with weights up to
//! `i64::MIN`/`i64::MAX`, poll, finish, panic, nested call, drop in any state,
//! poll the woken calls, a sync `run` that does not have to wait,
//! scale/resize (to 0 and back, to `MAX_SLOTS`), set the bounds of an
//! autoscaled pool, pause/resume, close/abort, change the bound on waiting
//! calls, and poll a `drained()` future. After *every* operation the case
//! compares with the model:
//!
//! * each poll's result (pending, the work's output, the `Rejected` reason, or
//!   a panic);
//! * the exact log of wake-ups, work starts, nested and sync calls: who was
//!   handed a slot, in which order, and that nobody else was woken;
//! * which calls are woken and not yet polled, in wake order;
//! * every field of `stats()`, `submitted()` against the number of calls that
//!   reached the pool (were polled once), and `size`, `bounds`,
//!   `max_waiting`, `is_paused`, `is_closed`.
//!
//! The model follows the documented rules (`Pool` docs, README "How it works"):
//! a first poll is turned away if the pool is closed, else if it is paused; it
//! runs at once if a slot is free and nobody waits; it is turned away as full
//! if the bound on waiting calls is reached; otherwise it waits. A freed slot,
//! or a raised limit, goes to the next waiter by the order (FIFO: oldest; LIFO:
//! newest; priority: smallest weight, oldest among equals), which is woken;
//! running work is never interrupted by a lower limit. A dropped waiting call
//! leaves the queue; a dropped running or admitted call frees its slot; both
//! count as cancelled. `abort` turns every waiting call away (woken, in queue
//! order). A never-rejecting call waits through a pause in a hold list, joins
//! the queue on `resume` in arrival order, ignores the waiting bound, and is
//! turned away (a panic) by `close`. A nested call runs at once under its
//! parent's slot, whatever the pool's state, and counts as completed.
//! Autoscaled pools run on a `ManualClock` that never moves, so their limit
//! changes only through `scale`/`resize`/`set_bounds`.
//!
//! Not modelled: admission timeouts (real time), the autoscaler's own moves,
//! and nested calls that overlap or outlive their parent (the ignored
//! reproductions at the end of this file).
//!
//! Reproducing: a failure prints its case seed, the pool's settings and a
//! shrunk list of operations. `POOLED_MODEL_SEED=<seed>` replays one case;
//! `POOLED_MODEL_CASES=<n>` changes the number of cases, `POOLED_MODEL_BASE=<n>`
//! the base seed they are derived from (to explore other sequences). These
//! share the library's `POOLED_` prefix: while one is set, the group cases'
//! pools warn that it names no group and start without environment overrides,
//! which these cases do not use anyway.

mod common;

use common::Gate;
use pool_runtime::ManualClock;
use pool_runtime::{Group, GroupSpec, Kind, Order, Pool, Rejected, Verdict, MAX_SLOTS};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};

/// Cases run by default. Each is one pool and a random sequence of operations.
#[cfg(not(miri))]
const DEFAULT_CASES: u64 = 3_000;
/// Miri interprets every step: a few cases still walk every path.
#[cfg(miri)]
const DEFAULT_CASES: u64 = 8;
/// Operations of an ordinary case (plus the drops that end it).
#[cfg(not(miri))]
const OPS: usize = 60;
#[cfg(miri)]
const OPS: usize = 40;
/// Operations of a crowded case: many waiters, many distinct weights (the
/// priority queue's spill from its small vector to the B-tree).
#[cfg(not(miri))]
const CROWDED_OPS: usize = 400;
#[cfg(miri)]
const CROWDED_OPS: usize = 120;
const DEFAULT_BASE_SEED: u64 = 0x0005_EED0_F900_51ED;

// ---- a small deterministic PRNG --------------------------------------------

/// splitmix64: tiny, fast, and good enough to pick operations.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
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

/// The seed of case `index` under `base`.
fn case_seed(base: u64, index: u64) -> u64 {
    Rng(base ^ index.wrapping_mul(0xA24B_AED4_963E_E407)).next_u64()
}

// ---- what a case runs --------------------------------------------------------

/// The pool a case builds.
#[derive(Clone, Copy, Debug)]
struct Config {
    kind: Kind,
    order: Order,
    size: usize,
    /// `[min, max]` of an autoscaled pool; `[0, MAX_SLOTS]` for a fixed one.
    bounds: (usize, usize),
    max_waiting: Option<usize>,
    /// The pool is a (local) `Group`'s, so never-rejecting calls can be made.
    group: bool,
}

/// Groups read the `POOLED_*` configuration, which goes through link-time
/// registration: not under Miri.
const GROUPS: bool = cfg!(not(miri));

impl Config {
    fn random(rng: &mut Rng) -> Config {
        let order = rng.pick(&[Order::Fifo, Order::Lifo, Order::Priority]);
        let max_waiting = rng.percent(25).then(|| rng.below(4));
        if rng.percent(65) {
            Config {
                kind: Kind::Fixed,
                order,
                size: 1 + rng.below(3),
                bounds: (0, MAX_SLOTS),
                max_waiting,
                // A group's autoscaled pool would run on the system clock.
                // Drawn either way, so a seed picks the same pool with or
                // without groups.
                group: rng.percent(35) && GROUPS,
            }
        } else {
            let min = rng.below(3);
            let max = min.max(1) + rng.below(3);
            Config {
                kind: Kind::Autoscale,
                order,
                size: min + rng.below(max - min + 1),
                bounds: (min, max),
                max_waiting,
                group: false,
            }
        }
    }

    fn build(&self) -> Pool {
        let mut builder = Pool::builder().order(self.order).kind(self.kind);
        builder = match self.kind {
            Kind::Fixed => builder.size(self.size),
            // A clock that never moves: the queue-depth rule never takes a
            // sample, so only the operations below change the limit.
            Kind::Autoscale => builder
                .min(self.bounds.0)
                .max(self.bounds.1)
                .size(self.size)
                .clock(Arc::new(ManualClock::new())),
        };
        if let Some(bound) = self.max_waiting {
            builder = builder.max_waiting(bound);
        }
        builder.build().expect("a valid random configuration")
    }

    fn group(&self) -> Group {
        assert_eq!(self.kind, Kind::Fixed);
        let spec = GroupSpec::new("tests::model")
            .kind(self.kind)
            .order(self.order)
            .size(self.size);
        Group::new(match self.max_waiting {
            Some(bound) => spec.max_waiting(bound),
            None => spec,
        })
    }
}

/// How a call is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// `Pool::submit_weighted`.
    Submit,
    /// `Pool::submit_judged` (the same as `Submit` on these pools).
    Judged,
    /// `Group::submit_wait`: never rejected; panics if the pool closes on it.
    Wait,
}

/// One step of a case. Calls are named by the id their `Submit` gave them, so
/// a shrunk sequence still means the same thing; a step whose call is gone
/// (or never existed, after shrinking) is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Create a call (not polled yet: the pool does not know it).
    Submit {
        call: usize,
        weight: i64,
        via: Via,
    },
    /// Poll a call once.
    Poll {
        call: usize,
    },
    /// Tell the call's work to finish, then poll the call.
    Finish {
        call: usize,
    },
    /// Tell the call's work to panic, then poll the call (and drop it, as an
    /// unwinding caller would).
    Panic {
        call: usize,
    },
    /// Tell the call's work to make a nested call into the pool on its next
    /// poll, then poll the call.
    Nested {
        call: usize,
    },
    /// Drop a call, in whatever state it is.
    Drop {
        call: usize,
    },
    /// Poll every call woken since its last poll, in wake order.
    PollWoken,
    /// A sync call (`Pool::run_weighted`), made only when the model says it
    /// will not wait (it would park this thread for good).
    Run {
        weight: i64,
    },
    /// Poll the `drained()` future (a new one once the last resolved).
    PollDrained,
    Scale(isize),
    Resize(usize),
    SetBounds(usize, usize),
    Pause,
    Resume,
    Close,
    Abort,
    SetMaxWaiting(Option<usize>),
}

/// What a poll returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Polled {
    Pending,
    /// The work's output (the call's id).
    Done(usize),
    Rejected(Rejected),
    /// The work panicked (the caller then drops the call).
    WorkPanicked,
    /// The call itself panicked: a never-rejecting call turned away.
    CallPanicked,
}

/// What an operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Polled(usize, Polled),
    /// What `scale`, `resize` or `set_bounds` returned.
    Size(usize),
    /// `set_bounds` refused the bounds (and changed nothing).
    BoundsRefused,
    Ran(Result<(), Rejected>),
    Drained(bool),
}

/// What the pool shows of its calls, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// The call's waker was woken.
    Woken(usize),
    /// The call's work was polled for the first time.
    Started(usize),
    /// The call's work made a nested call, which completed at once.
    Nested(usize),
    /// A nested call did not complete at once (or was turned away).
    NestedFailed(usize),
    /// A sync call ran its closure.
    Ran,
    /// The `drained()` future's waker was woken.
    DrainWoken,
}

// ---- the reference model -----------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Created, never polled.
    New,
    /// In the queue.
    Waiting,
    /// A never-rejecting call in the hold list of a paused pool.
    Held,
    /// Handed a slot (woken), not polled since.
    Admitted,
    /// Holds a slot; its work has been polled.
    Running,
    /// Turned away while waiting (close, abort), not polled since.
    TurnedAway,
    /// Returned `Ready`; the future is kept (dropping it must change nothing).
    Resolved,
    /// Dropped.
    Gone,
}

#[derive(Clone, Debug)]
struct ModelCall {
    state: State,
    weight: i64,
    via: Via,
    finish: bool,
    panic: bool,
    nested: bool,
}

#[derive(Clone, Debug)]
struct Model {
    order: Order,
    kind: Kind,
    limit: usize,
    bounds: (usize, usize),
    max_waiting: Option<usize>,
    paused: bool,
    closed: bool,
    /// Holds a slot: `Admitted` or `Running`.
    running: usize,
    /// Waiting calls, in the order they joined the queue.
    queue: Vec<usize>,
    /// Never-rejecting calls waiting for `resume`, in arrival order.
    held: Vec<usize>,
    calls: BTreeMap<usize, ModelCall>,
    /// Calls woken and not polled (or dropped) since, in wake order.
    woken: Vec<usize>,
    /// A `drained()` future exists (it resolved otherwise) ...
    drain_future: bool,
    /// ... and its waker is registered with the pool (it was polled, pending).
    drain_registered: bool,
    events: Vec<Event>,
    submitted: u64,
    completed: u64,
    panicked: u64,
    cancelled: u64,
    rejected: [u64; 4],
}

fn reason_index(reason: Rejected) -> usize {
    Rejected::ALL
        .iter()
        .position(|&r| r == reason)
        .expect("a known reason")
}

impl Model {
    fn new(config: &Config) -> Model {
        Model {
            order: config.order,
            kind: config.kind,
            limit: config.size,
            bounds: config.bounds,
            max_waiting: config.max_waiting,
            paused: false,
            closed: false,
            running: 0,
            queue: Vec::new(),
            held: Vec::new(),
            calls: BTreeMap::new(),
            woken: Vec::new(),
            drain_future: false,
            drain_registered: false,
            events: Vec::new(),
            submitted: 0,
            completed: 0,
            panicked: 0,
            cancelled: 0,
            rejected: [0; 4],
        }
    }

    /// The calls not dropped yet, by id.
    fn live_calls(&self) -> Vec<usize> {
        let live = self.calls.iter().filter(|(_, c)| c.state != State::Gone);
        live.map(|(&call, _)| call).collect()
    }

    fn state(&self, call: usize) -> Option<State> {
        self.calls.get(&call).map(|c| c.state)
    }

    fn pollable(&self, call: usize) -> bool {
        matches!(
            self.state(call),
            Some(
                State::New
                    | State::Waiting
                    | State::Held
                    | State::Admitted
                    | State::Running
                    | State::TurnedAway
            )
        )
    }

    fn call(&mut self, call: usize) -> &mut ModelCall {
        self.calls.get_mut(&call).expect("a known call")
    }

    fn set_state(&mut self, call: usize, state: State) {
        self.call(call).state = state;
    }

    fn waiting(&self) -> usize {
        self.queue.len() + self.held.len()
    }

    fn drained(&self) -> bool {
        self.closed && self.running == 0 && self.waiting() == 0
    }

    /// Wakes a registered `drained()` future once the pool drains.
    fn settle_drain(&mut self) {
        if self.drain_registered && self.drained() {
            self.drain_registered = false;
            self.events.push(Event::DrainWoken);
        }
    }

    /// The position in `queue` of the waiter a free slot goes to.
    fn next_waiter(&self) -> Option<usize> {
        self.next_waiter_where(|_| true)
    }

    /// The queue position of the first call `accept`s in admission order.
    fn next_waiter_where(&self, accept: impl Fn(usize) -> bool) -> Option<usize> {
        let mut candidates = self.queue.iter().enumerate().filter(|&(_, &c)| accept(c));
        match self.order {
            Order::Fifo => candidates.next(),
            Order::Lifo => candidates.last(),
            // `min_by_key` keeps the first of equal keys: the oldest.
            Order::Priority => candidates.min_by_key(|(_, call)| self.calls[call].weight),
        }
        .map(|(at, _)| at)
    }

    fn wake(&mut self, call: usize) {
        self.events.push(Event::Woken(call));
        self.woken.push(call);
    }

    /// Hands free slots to waiters, by the order.
    fn admit_waiting(&mut self) {
        while self.running < self.limit {
            let Some(at) = self.next_waiter() else { break };
            let call = self.queue.remove(at);
            self.running += 1;
            self.set_state(call, State::Admitted);
            self.wake(call);
        }
    }

    fn release(&mut self) {
        self.running -= 1;
        self.admit_waiting();
    }

    fn reject(&mut self, call: usize, reason: Rejected) -> Polled {
        self.rejected[reason_index(reason)] += 1;
        self.turned_away(call, reason)
    }

    /// What the caller of a turned-away call sees.
    fn turned_away(&mut self, call: usize, reason: Rejected) -> Polled {
        if self.calls[&call].via == Via::Wait {
            // `submit_wait` panics; the panic takes the call's future with it.
            self.set_state(call, State::Gone);
            Polled::CallPanicked
        } else {
            self.set_state(call, State::Resolved);
            Polled::Rejected(reason)
        }
    }

    /// Polls the work of a call that holds a slot.
    fn poll_work(&mut self, call: usize) -> Polled {
        if std::mem::take(&mut self.call(call).nested) {
            // Under the parent's slot: not queued, never turned away.
            self.submitted += 1;
            self.completed += 1;
            self.events.push(Event::Nested(call));
        }
        let c = &self.calls[&call];
        if c.panic {
            self.set_state(call, State::Gone);
            self.completed += 1;
            self.panicked += 1;
            self.release();
            Polled::WorkPanicked
        } else if c.finish {
            self.set_state(call, State::Resolved);
            self.completed += 1;
            self.release();
            Polled::Done(call)
        } else {
            Polled::Pending
        }
    }

    fn start(&mut self, call: usize) -> Polled {
        self.set_state(call, State::Running);
        self.events.push(Event::Started(call));
        self.poll_work(call)
    }

    fn poll(&mut self, call: usize) -> Polled {
        self.woken.retain(|&c| c != call);
        let waits = self.calls[&call].via == Via::Wait;
        let polled = match self.state(call).expect("a known call") {
            State::New => {
                self.submitted += 1;
                if self.closed && !waits {
                    // (A never-rejecting call is admitted by a closed pool.)
                    self.reject(call, Rejected::Closed)
                } else if self.paused && waits {
                    self.held.push(call);
                    self.set_state(call, State::Held);
                    Polled::Pending
                } else if self.paused {
                    self.reject(call, Rejected::Paused)
                } else if self.queue.is_empty() && self.running < self.limit {
                    self.running += 1;
                    self.start(call)
                } else if !waits && self.max_waiting.is_some_and(|b| self.queue.len() >= b) {
                    self.reject(call, Rejected::Full)
                } else {
                    self.queue.push(call);
                    self.set_state(call, State::Waiting);
                    Polled::Pending
                }
            }
            State::Waiting | State::Held => Polled::Pending,
            State::Admitted => self.start(call),
            State::Running => self.poll_work(call),
            State::TurnedAway => self.turned_away(call, Rejected::Closed),
            State::Resolved | State::Gone => unreachable!("not pollable"),
        };
        self.settle_drain();
        polled
    }

    fn drop_call(&mut self, call: usize) {
        self.woken.retain(|&c| c != call);
        match self.state(call).expect("a known call") {
            State::Waiting => {
                self.queue.retain(|&c| c != call);
                self.cancelled += 1;
            }
            State::Held => {
                self.held.retain(|&c| c != call);
                self.cancelled += 1;
            }
            State::Admitted | State::Running => {
                self.cancelled += 1;
                self.set_state(call, State::Gone);
                self.release();
            }
            State::New | State::TurnedAway | State::Resolved | State::Gone => {}
        }
        self.set_state(call, State::Gone);
        self.settle_drain();
    }

    /// Whether a sync call would park (no slot free, room in the queue).
    fn run_would_wait(&self) -> bool {
        let admitted = self.queue.is_empty() && self.running < self.limit;
        let full = self.max_waiting.is_some_and(|b| self.queue.len() >= b);
        !(self.closed || self.paused || admitted || full)
    }

    /// A sync call, if it would not have to wait.
    fn run_sync(&mut self) -> Option<Result<(), Rejected>> {
        let reason = if self.closed {
            Rejected::Closed
        } else if self.paused {
            Rejected::Paused
        } else if self.queue.is_empty() && self.running < self.limit {
            self.submitted += 1;
            self.completed += 1;
            self.events.push(Event::Ran);
            return Some(Ok(()));
        } else if self.max_waiting.is_some_and(|b| self.queue.len() >= b) {
            Rejected::Full
        } else {
            return None;
        };
        self.submitted += 1;
        self.rejected[reason_index(reason)] += 1;
        Some(Err(reason))
    }

    fn set_limit(&mut self, target: usize) -> usize {
        self.limit = target.clamp(self.bounds.0, self.bounds.1);
        self.admit_waiting();
        self.limit
    }

    fn resume(&mut self) {
        self.paused = false;
        for call in std::mem::take(&mut self.held) {
            self.queue.push(call);
            self.set_state(call, State::Waiting);
        }
        self.admit_waiting();
    }

    /// Closes: with `abort`, the queue's calls that can be turned away are,
    /// in the order it would admit them; never-rejecting calls stay (held
    /// ones wait for `resume`, queued ones for a slot).
    fn close(&mut self, abort: bool) {
        self.closed = true;
        let mut turned_away = Vec::new();
        let rejectable = |call: usize| self.calls[&call].via != Via::Wait;
        while let Some(at) = self.next_waiter_where(rejectable).filter(|_| abort) {
            turned_away.push(self.queue.remove(at));
        }
        for call in turned_away {
            self.rejected[reason_index(Rejected::Closed)] += 1;
            self.set_state(call, State::TurnedAway);
            self.wake(call);
        }
        self.settle_drain();
    }

    /// Whether `op` applies in this state (a shrunk sequence may name calls
    /// that are gone or were never created).
    fn applies(&self, op: Op, group: bool) -> bool {
        match op {
            Op::Submit { call, via, .. } => {
                !self.calls.contains_key(&call) && (via != Via::Wait || group)
            }
            Op::Poll { call } | Op::Finish { call } | Op::Panic { call } | Op::Nested { call } => {
                self.pollable(call)
            }
            Op::Drop { call } => self.state(call).is_some_and(|s| s != State::Gone),
            Op::Run { .. } => !self.run_would_wait(),
            Op::SetBounds(..) => self.kind == Kind::Autoscale,
            _ => true,
        }
    }

    /// Applies `op` (which applies); returns what it returned.
    fn apply(&mut self, op: Op) -> Vec<Outcome> {
        let mut out = Vec::new();
        match op {
            Op::Submit { call, weight, via } => {
                self.calls.insert(
                    call,
                    ModelCall {
                        state: State::New,
                        weight,
                        via,
                        finish: false,
                        panic: false,
                        nested: false,
                    },
                );
            }
            Op::Poll { call } => out.push(Outcome::Polled(call, self.poll(call))),
            Op::Finish { call } => {
                self.call(call).finish = true;
                out.push(Outcome::Polled(call, self.poll(call)));
            }
            Op::Panic { call } => {
                self.call(call).panic = true;
                out.push(Outcome::Polled(call, self.poll(call)));
            }
            Op::Nested { call } => {
                self.call(call).nested = true;
                out.push(Outcome::Polled(call, self.poll(call)));
            }
            Op::Drop { call } => self.drop_call(call),
            Op::PollWoken => {
                for call in self.woken.clone() {
                    if self.pollable(call) {
                        out.push(Outcome::Polled(call, self.poll(call)));
                    }
                }
            }
            Op::Run { .. } => out.push(Outcome::Ran(self.run_sync().expect("applies"))),
            Op::PollDrained => {
                let drained = self.drained();
                self.drain_future = !drained;
                self.drain_registered = !drained;
                out.push(Outcome::Drained(drained));
            }
            Op::Scale(delta) => {
                let target = self.limit.saturating_add_signed(delta);
                out.push(Outcome::Size(self.set_limit(target)));
            }
            Op::Resize(size) => out.push(Outcome::Size(self.set_limit(size))),
            Op::SetBounds(min, max) => {
                if max == 0 || min > max || max > MAX_SLOTS {
                    out.push(Outcome::BoundsRefused);
                } else {
                    self.bounds = (min, max);
                    out.push(Outcome::Size(self.set_limit(self.limit)));
                }
            }
            Op::Pause => self.paused = true,
            Op::Resume => self.resume(),
            Op::Close => self.close(false),
            Op::Abort => self.close(true),
            Op::SetMaxWaiting(bound) => self.max_waiting = bound,
        }
        out
    }
}

// ---- the harness: the real pool, polled by hand ----------------------------

type Log = Arc<Mutex<Vec<Event>>>;

/// A waker that logs each wake-up as `event`.
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

/// The panic payload of work told to panic (kept quiet by the panic hook).
struct WorkPanic;

/// A call's work: pending until told to finish (or panic); logs its first
/// poll; makes a nested call when told to.
struct Work {
    call: usize,
    pool: Pool,
    log: Log,
    finish: Arc<AtomicBool>,
    panic: Arc<AtomicBool>,
    nested: Arc<AtomicBool>,
    started: bool,
}

impl Future for Work {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if !self.started {
            self.started = true;
            self.log.lock().unwrap().push(Event::Started(self.call));
        }
        if self.nested.swap(false, Ordering::SeqCst) {
            let mut nested = std::pin::pin!(self.pool.submit(async { 7 }));
            let event = match nested.as_mut().poll(cx) {
                Poll::Ready(Ok(7)) => Event::Nested(self.call),
                _ => Event::NestedFailed(self.call),
            };
            self.log.lock().unwrap().push(event);
        }
        if self.panic.load(Ordering::SeqCst) {
            std::panic::panic_any(WorkPanic);
        }
        if self.finish.load(Ordering::SeqCst) {
            Poll::Ready(self.call)
        } else {
            Poll::Pending
        }
    }
}

type CallFuture<'p> = Pin<Box<dyn Future<Output = Result<usize, Rejected>> + 'p>>;

struct Call<'p> {
    /// `None` once dropped.
    future: Option<CallFuture<'p>>,
    resolved: bool,
    waker: Waker,
    finish: Arc<AtomicBool>,
    panic: Arc<AtomicBool>,
    nested: Arc<AtomicBool>,
}

struct Harness<'p> {
    pool: &'p Pool,
    group: Option<&'p Group>,
    log: Log,
    calls: BTreeMap<usize, Call<'p>>,
    drained: Option<Pin<Box<dyn Future<Output = ()> + 'p>>>,
    drain_waker: Waker,
    /// Calls woken since their last poll, in wake order.
    woken: Vec<usize>,
    /// How much of the log `woken` has seen.
    seen: usize,
}

impl<'p> Harness<'p> {
    fn new(pool: &'p Pool, group: Option<&'p Group>) -> Self {
        let log = Log::default();
        Harness {
            pool,
            group,
            drain_waker: Waker::from(Arc::new(LogWaker {
                event: Event::DrainWoken,
                log: log.clone(),
            })),
            log,
            calls: BTreeMap::new(),
            drained: None,
            woken: Vec::new(),
            seen: 0,
        }
    }

    fn submit(&self, weight: i64, via: Via, work: Work) -> CallFuture<'p> {
        let pool = self.pool;
        match via {
            Via::Submit => Box::pin(pool.submit_weighted(weight, work)),
            Via::Judged => Box::pin(pool.submit_judged(weight, work, |_| Verdict::Success)),
            Via::Wait => {
                let call = self.group.expect("a group case").submit_wait(weight, work);
                Box::pin(async move { Ok(call.await) })
            }
        }
    }

    fn poll(&mut self, call: usize) -> Polled {
        self.woken.retain(|&c| c != call);
        let c = self.calls.get_mut(&call).expect("a known call");
        let future = c.future.as_mut().expect("a live call");
        let waker = &c.waker;
        let polled = catch_unwind(AssertUnwindSafe(|| {
            future.as_mut().poll(&mut Context::from_waker(waker))
        }));
        match polled {
            Ok(Poll::Pending) => Polled::Pending,
            Ok(Poll::Ready(result)) => {
                c.resolved = true;
                match result {
                    Ok(out) => Polled::Done(out),
                    Err(reason) => Polled::Rejected(reason),
                }
            }
            // As an unwinding caller would: the call's future goes with it.
            Err(payload) => {
                c.future = None;
                if payload.is::<WorkPanic>() {
                    Polled::WorkPanicked
                } else {
                    Polled::CallPanicked
                }
            }
        }
    }

    /// Applies `op` to the pool; returns what the model's `apply` returns.
    fn apply(&mut self, op: Op) -> Vec<Outcome> {
        let mut out = Vec::new();
        match op {
            Op::Submit { call, weight, via } => {
                let flag = || Arc::new(AtomicBool::new(false));
                let (finish, panic, nested) = (flag(), flag(), flag());
                let work = Work {
                    call,
                    pool: self.pool.clone(),
                    log: self.log.clone(),
                    finish: finish.clone(),
                    panic: panic.clone(),
                    nested: nested.clone(),
                    started: false,
                };
                let waker = Waker::from(Arc::new(LogWaker {
                    event: Event::Woken(call),
                    log: self.log.clone(),
                }));
                let future = self.submit(weight, via, work);
                self.calls.insert(
                    call,
                    Call {
                        future: Some(future),
                        resolved: false,
                        waker,
                        finish,
                        panic,
                        nested,
                    },
                );
            }
            Op::Poll { call } => out.push(Outcome::Polled(call, self.poll(call))),
            Op::Finish { call } => {
                self.calls[&call].finish.store(true, Ordering::SeqCst);
                out.push(Outcome::Polled(call, self.poll(call)));
            }
            Op::Panic { call } => {
                self.calls[&call].panic.store(true, Ordering::SeqCst);
                out.push(Outcome::Polled(call, self.poll(call)));
            }
            Op::Nested { call } => {
                self.calls[&call].nested.store(true, Ordering::SeqCst);
                out.push(Outcome::Polled(call, self.poll(call)));
            }
            Op::Drop { call } => {
                self.woken.retain(|&c| c != call);
                let c = self.calls.get_mut(&call).expect("a known call");
                drop(c.future.take());
            }
            Op::PollWoken => {
                for call in self.woken.clone() {
                    let c = &self.calls[&call];
                    if c.future.is_some() && !c.resolved {
                        out.push(Outcome::Polled(call, self.poll(call)));
                    }
                }
            }
            Op::Run { weight } => {
                let log = &self.log;
                let ran = self
                    .pool
                    .run_weighted(weight, || log.lock().unwrap().push(Event::Ran));
                out.push(Outcome::Ran(ran));
            }
            Op::PollDrained => {
                let pool = self.pool;
                let drained = self.drained.get_or_insert_with(|| Box::pin(pool.drained()));
                let ready = drained
                    .as_mut()
                    .poll(&mut Context::from_waker(&self.drain_waker))
                    .is_ready();
                if ready {
                    self.drained = None;
                }
                out.push(Outcome::Drained(ready));
            }
            Op::Scale(delta) => out.push(Outcome::Size(self.pool.scale(delta))),
            Op::Resize(size) => out.push(Outcome::Size(self.pool.resize(size))),
            Op::SetBounds(min, max) => out.push(match self.pool.set_bounds(min, max) {
                Ok(size) => Outcome::Size(size),
                Err(_) => Outcome::BoundsRefused,
            }),
            Op::Pause => self.pool.pause(),
            Op::Resume => self.pool.resume(),
            Op::Close => self.pool.close(),
            Op::Abort => self.pool.abort(),
            Op::SetMaxWaiting(bound) => self
                .pool
                .set_max_waiting(bound)
                .expect("a small bound is in range"),
        }
        self.note_wakes();
        out
    }

    /// Folds the wake-ups logged since the last look into `woken`.
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

    /// Every difference between the pool and the model, one a line.
    fn compare(&self, model: &Model) -> String {
        let mut diff = String::new();
        // Formats only what differs: this runs after every step (and under Miri).
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
        check!("stats.waiting", s.waiting, model.waiting());
        check!("stats.completed", s.completed, model.completed);
        check!("stats.panicked", s.panicked, model.panicked);
        check!("stats.cancelled", s.cancelled, model.cancelled);
        check!(
            "stats.rejected",
            std::array::from_fn(|i| s.rejected_for(Rejected::ALL[i])),
            model.rejected
        );
        check!(
            "stats.submitted() (calls polled at least once)",
            s.submitted(),
            model.submitted
        );
        check!("stats.paused", s.paused, model.paused);
        check!("stats.closed", s.closed, model.closed);
        check!("size()", self.pool.size(), model.limit);
        check!("bounds()", self.pool.bounds(), model.bounds);
        check!("max_waiting()", self.pool.max_waiting(), model.max_waiting);
        check!("is_paused()", self.pool.is_paused(), model.paused);
        check!("is_closed()", self.pool.is_closed(), model.closed);
        check!(
            "a drained() future is pending",
            self.drained.is_some(),
            model.drain_future
        );
        check!(
            "woken, not polled since (wake order)",
            self.woken,
            model.woken
        );
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

// ---- generating, running and shrinking cases ---------------------------------

fn random_weight(rng: &mut Rng, crowded: bool) -> i64 {
    if crowded && rng.percent(80) {
        return rng.next_u64() as i64;
    }
    match rng.below(12) {
        0 => i64::MIN,
        1 => i64::MIN + 1,
        2 => i64::MAX,
        3 => i64::MAX - 1,
        4 => rng.next_u64() as i64,
        // Small weights, for ties.
        _ => rng.below(5) as i64 - 2,
    }
}

/// The kinds of operation `random_op` picks from.
#[derive(Clone, Copy)]
enum Pick {
    Submit,
    Poll,
    Finish,
    Drop,
    PollWoken,
    Panic,
    Nested,
    Run,
    PollDrained,
    Scale,
    Resize,
    SetBounds,
    Pause,
    Resume,
    SetMaxWaiting,
    Close,
}

/// How often each kind is picked, per mille: ordinary and crowded cases.
const MIX: [(Pick, u32, u32); 16] = [
    (Pick::Submit, 250, 400),
    (Pick::Poll, 200, 300),
    (Pick::Finish, 120, 80),
    (Pick::Drop, 90, 80),
    (Pick::PollWoken, 70, 60),
    (Pick::Panic, 20, 10),
    (Pick::Nested, 20, 10),
    (Pick::Run, 20, 10),
    (Pick::PollDrained, 10, 5),
    (Pick::Scale, 40, 15),
    (Pick::Resize, 30, 10),
    (Pick::SetBounds, 20, 5),
    (Pick::Pause, 30, 5),
    (Pick::Resume, 30, 5),
    (Pick::SetMaxWaiting, 20, 3),
    (Pick::Close, 10, 2),
];

/// Picks an operation that applies to the model's state.
fn random_op(
    rng: &mut Rng,
    model: &Model,
    config: &Config,
    next_call: &mut usize,
    crowded: bool,
) -> Op {
    let pick_call = |rng: &mut Rng, states: &[State]| -> Option<usize> {
        let live: Vec<usize> = model
            .calls
            .iter()
            .filter(|(_, c)| states.contains(&c.state))
            .map(|(&id, _)| id)
            .collect();
        (!live.is_empty()).then(|| live[rng.below(live.len())])
    };
    use State::*;
    const POLLABLE: &[State] = &[New, Waiting, Held, Admitted, Running, TurnedAway];
    let total: u32 = MIX
        .iter()
        .map(|&(_, o, c)| if crowded { c } else { o })
        .sum();
    loop {
        let mut roll = rng.below(total as usize) as u32;
        let pick = MIX
            .iter()
            .find(|&&(_, o, c)| {
                let weight = if crowded { c } else { o };
                if roll < weight {
                    return true;
                }
                roll -= weight;
                false
            })
            .expect("within the total")
            .0;
        let op = match pick {
            Pick::Submit => {
                let call = *next_call;
                *next_call += 1;
                let via = if config.group && rng.percent(50) {
                    Via::Wait
                } else if rng.percent(20) {
                    Via::Judged
                } else {
                    Via::Submit
                };
                Some(Op::Submit {
                    call,
                    weight: random_weight(rng, crowded),
                    via,
                })
            }
            Pick::Poll => {
                // New calls most of the time: they are the ones whose poll decides.
                let states: &[State] = if rng.percent(60) { &[New] } else { POLLABLE };
                pick_call(rng, states).map(|call| Op::Poll { call })
            }
            Pick::Finish => {
                let states: &[State] = if rng.percent(85) {
                    &[Running, Admitted]
                } else {
                    POLLABLE
                };
                pick_call(rng, states).map(|call| Op::Finish { call })
            }
            Pick::Drop => pick_call(
                rng,
                &[New, Waiting, Held, Admitted, Running, TurnedAway, Resolved],
            )
            .map(|call| Op::Drop { call }),
            Pick::PollWoken => Some(Op::PollWoken),
            Pick::Panic => pick_call(rng, &[Running, Admitted]).map(|call| Op::Panic { call }),
            Pick::Nested => pick_call(rng, &[Running, Admitted]).map(|call| Op::Nested { call }),
            Pick::Run => {
                let op = Op::Run {
                    weight: random_weight(rng, crowded),
                };
                model.applies(op, config.group).then_some(op)
            }
            Pick::PollDrained => Some(Op::PollDrained),
            Pick::Scale => {
                // Now and then all the way: every waiter admitted at once
                // (more than one batch of wake-ups in crowded cases).
                let delta = if rng.percent(10) {
                    rng.pick(&[isize::MIN, isize::MAX])
                } else {
                    rng.pick(&[-3, -2, -1, 1, 2, 3])
                };
                Some(Op::Scale(delta))
            }
            Pick::Resize => {
                let size = if rng.percent(8) {
                    rng.pick(&[usize::MAX, MAX_SLOTS, MAX_SLOTS + 1])
                } else {
                    rng.below(5)
                };
                Some(Op::Resize(size))
            }
            Pick::SetBounds => {
                (model.kind == Kind::Autoscale).then(|| Op::SetBounds(rng.below(5), rng.below(6)))
            }
            Pick::Pause => Some(Op::Pause),
            Pick::Resume => Some(Op::Resume),
            Pick::SetMaxWaiting => Some(Op::SetMaxWaiting(rng.percent(40).then(|| rng.below(4)))),
            Pick::Close => Some(if rng.percent(50) {
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

/// Whether case `seed` is a crowded one (its first draw).
fn is_crowded(seed: u64) -> bool {
    Rng(seed).percent(10)
}

/// The operations of case `seed`, generated against the model alone.
fn generate(seed: u64) -> (Config, Vec<Op>) {
    let mut rng = Rng(seed);
    // The draw `is_crowded` reads.
    let crowded = rng.percent(10);
    let mut config = Config::random(&mut rng);
    let count = if crowded {
        // One slot and a deep queue of mostly distinct weights.
        config.order = Order::Priority;
        config.max_waiting = None;
        if config.kind == Kind::Fixed {
            config.size = 1;
        }
        CROWDED_OPS
    } else {
        OPS
    };
    let mut model = Model::new(&config);
    let mut next_call = 0;
    let mut ops = Vec::with_capacity(count + 16);
    for _ in 0..count {
        let op = random_op(&mut rng, &model, &config, &mut next_call, crowded);
        model.apply(op);
        ops.push(op);
    }
    // The end of a case: every call goes away, in random order.
    let mut left = model.live_calls();
    while !left.is_empty() {
        let call = left.swap_remove(rng.below(left.len()));
        ops.push(Op::Drop { call });
    }
    (config, ops)
}

/// A case that went wrong: where, and how.
struct Failure {
    /// The index of the failing operation (past the end: the final drops).
    step: usize,
    op: Option<Op>,
    message: String,
}

/// Runs `ops` against a fresh pool and the model, comparing after every step,
/// then drops whatever the sequence left alive (a shrunk sequence may have
/// lost its own drops) and checks that the quiet pool adds up.
fn run(config: &Config, ops: &[Op]) -> Result<(), Failure> {
    let group;
    let built;
    let (pool, group) = if config.group {
        group = config.group();
        (group.pool(), Some(&group))
    } else {
        built = config.build();
        (&built, None)
    };
    run_on(config, pool, group, ops)
}

fn run_on(config: &Config, pool: &Pool, group: Option<&Group>, ops: &[Op]) -> Result<(), Failure> {
    let mut model = Model::new(config);
    let mut harness = Harness::new(pool, group);
    let initial = harness.compare(&model);
    if !initial.is_empty() {
        return Err(Failure {
            step: 0,
            op: None,
            message: format!("a fresh pool differs from the model:\n{initial}"),
        });
    }
    let mut ops = ops.to_vec();
    let mut step = 0;
    let mut ending = false;
    loop {
        if step == ops.len() {
            if std::mem::replace(&mut ending, true) {
                break;
            }
            ops.extend(model.live_calls().into_iter().map(|call| Op::Drop { call }));
            continue;
        }
        let op = ops[step];
        step += 1;
        if !model.applies(op, config.group) {
            continue;
        }
        let fail = |message: String| {
            Err(Failure {
                step: step - 1,
                op: Some(op),
                message,
            })
        };
        let expected = model.apply(op);
        let got = match catch_unwind(AssertUnwindSafe(|| harness.apply(op))) {
            Ok(got) => got,
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".into());
                // The harness may hold half-dropped futures: leak it rather than
                // run more of the pool's code on a broken state.
                std::mem::forget(harness);
                return fail(format!("  the pool panicked: {what}"));
            }
        };
        let mut message = String::new();
        if got != expected {
            let _ = writeln!(message, "  results: pool {got:?}, model {expected:?}");
        }
        message += &harness.compare(&model);
        if !message.is_empty() {
            std::mem::forget(harness);
            return fail(message);
        }
    }
    drop(harness);
    let s = pool.stats();
    if s.running != 0
        || s.waiting != 0
        || s.completed + s.rejected_total() + s.cancelled != model.submitted
    {
        return Err(Failure {
            step,
            op: None,
            message: format!(
                "  the quiet pool does not add up: {s:?}, submitted {}",
                model.submitted
            ),
        });
    }
    Ok(())
}

/// The shortest sub-sequence of `ops` that still fails (greedy: drop chunks,
/// then single operations, while the case keeps failing).
fn shrink(config: &Config, mut ops: Vec<Op>) -> Vec<Op> {
    let mut chunk = ops.len() / 2;
    while chunk >= 1 {
        let mut start = 0;
        while start < ops.len() {
            let end = (start + chunk).min(ops.len());
            let candidate: Vec<Op> = ops[..start].iter().chain(&ops[end..]).copied().collect();
            if run(config, &candidate).is_err() {
                ops = candidate;
            } else {
                start += chunk;
            }
        }
        chunk /= 2;
    }
    ops
}

/// Runs case `seed`; on failure, panics with everything needed to replay it.
fn check_case(seed: u64) {
    let (config, ops) = generate(seed);
    let Err(failure) = quietly(|| run(&config, &ops)) else {
        return;
    };
    let shrunk = quietly(|| shrink(&config, ops.clone()));
    let shrunk_failure = quietly(|| run(&config, &shrunk)).err();
    let mut report = format!(
        "the pool differs from the model\n  seed: {seed:#x} (replay: POOLED_MODEL_SEED={seed:#x})\n  \
         pool: {config:?}\nat step {} of {} ({:?}):\n{}",
        failure.step,
        ops.len(),
        failure.op,
        failure.message
    );
    if let Some(f) = shrunk_failure {
        let _ = writeln!(
            report,
            "\nshrunk to {} operations, failing at step {} ({:?}):\n{}",
            shrunk.len(),
            f.step,
            f.op,
            f.message
        );
        for (i, op) in shrunk.iter().enumerate() {
            let _ = writeln!(report, "  {i:3}: {op:?}");
        }
    }
    let _ = writeln!(report, "\nthe operations up to the failure:");
    for (i, op) in ops.iter().enumerate().take(failure.step + 1) {
        let _ = writeln!(report, "  {i:3}: {op:?}");
    }
    panic!("{report}");
}

// ---- panics: the work's are expected, the shrinker's are noise ---------------

std::thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Silences the panic messages of work told to panic, and of every panic on
/// this thread while `f` runs (never-rejecting calls turned away, and the
/// shrinker's replays of a failing case).
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<WorkPanic>() && !QUIET.with(|q| q.get()) {
                default(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let out = f();
    QUIET.with(|q| q.set(was));
    out
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
fn the_pool_matches_the_reference_model_over_random_operation_sequences() {
    // A ceiling from the environment (`POOLED_CEILING`) would gate the group
    // cases' calls too.
    #[cfg(not(miri))]
    assert_eq!(
        pool_runtime::ceiling::limit(),
        None,
        "run without POOLED_CEILING"
    );
    if let Some(seed) = env_u64("POOLED_MODEL_SEED") {
        check_case(seed);
        return;
    }
    let cases = env_u64("POOLED_MODEL_CASES").unwrap_or(DEFAULT_CASES);
    let base = env_u64("POOLED_MODEL_BASE").unwrap_or(DEFAULT_BASE_SEED);
    let seeds = (0..).map(|index| case_seed(base, index));
    if cfg!(miri) {
        // Few cases: one crowded (a deep priority queue), the others ordinary.
        let crowded = seeds.clone().find(|&seed| is_crowded(seed));
        check_case(crowded.expect("one seed in ten is crowded"));
        let ordinary = seeds.filter(|&seed| !is_crowded(seed));
        ordinary
            .take(cases.saturating_sub(1) as usize)
            .for_each(check_case);
    } else {
        seeds.take(cases as usize).for_each(check_case);
    }
}

/// The comparison must be able to fail: a model that admits FIFO pools
/// newest first disagrees with the pool on the same sequences.
#[test]
fn a_wrong_model_is_caught() {
    for index in 0..50 {
        let (config, ops) = generate(case_seed(DEFAULT_BASE_SEED, index));
        if config.order != Order::Fifo || config.group {
            continue;
        }
        let pool = config.build();
        let mut model = Model::new(&Config {
            order: Order::Lifo,
            ..config
        });
        let mut harness = Harness::new(&pool, None);
        for &op in &ops {
            if !model.applies(op, false) {
                continue;
            }
            let expected = model.apply(op);
            let got = quietly(|| harness.apply(op));
            if got != expected || !harness.compare(&model).is_empty() {
                return;
            }
        }
    }
    panic!("a LIFO model of FIFO pools was never caught");
}

/// `scale` documents its clamp as `[0, MAX_SLOTS]` for fixed pools, and
/// `set_bounds` speaks of autoscaled pools only: on a fixed pool it is refused
/// and the clamp stays (it used to narrow every later `scale` and `resize`).
#[test]
fn set_bounds_does_not_narrow_the_clamp_of_a_fixed_pool() {
    let pool = Pool::fixed(1);
    assert!(pool.set_bounds(2, 4).is_err());
    let size = pool.size();
    assert_eq!(
        pool.scale(10),
        size + 10,
        "fixed pools clamp to [0, MAX_SLOTS]"
    );
    assert_eq!(pool.resize(0), 0, "a fixed pool may be scaled to 0");
    assert_eq!(pool.bounds(), (0, MAX_SLOTS));
}

/// Work that counts how many such works are in flight at once (and the most
/// ever seen), pending once in the middle.
async fn counted(in_flight: &std::cell::Cell<usize>, most: &std::cell::Cell<usize>) {
    in_flight.set(in_flight.get() + 1);
    most.set(most.get().max(in_flight.get()));
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
    in_flight.set(in_flight.get() - 1);
}

/// DESIGN §3: "a nested call may use its parent's slot only while the parent
/// holds it and waits on it, one nested call at a time". Two nested calls
/// joined inside the work of a pool of 1 both run at once.
#[test]
fn nested_calls_joined_in_one_work_run_one_at_a_time() {
    let pool = Pool::fixed(1);
    let (in_flight, most) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let out = futures::executor::block_on(pool.submit(async {
        let (a, b) = futures::join!(
            pool.submit(counted(&in_flight, &most)),
            pool.submit(counted(&in_flight, &most))
        );
        a.is_ok() && b.is_ok()
    }));
    assert_eq!(out, Ok(true));
    assert_eq!(
        most.get(),
        1,
        "a pool of 1 had {} calls in flight",
        most.get()
    );
}

/// DESIGN §3: "a nested call that outlives its parent keeps that slot busy
/// until it ends". A nested call moved out of its parent's work keeps
/// running after the parent ends, and the parent's slot goes to a newcomer
/// at once: two calls in flight in a pool of 1.
#[test]
fn a_nested_call_that_outlives_its_parent_keeps_the_slot_busy() {
    let pool = Pool::fixed(1);
    let release = Arc::new(AtomicBool::new(false));
    let escaped = std::cell::RefCell::new(None);
    let parent = pool.submit(async {
        let mut nested = Box::pin(pool.submit(Gate(release.clone())));
        std::future::poll_fn(|cx| {
            assert!(
                nested.as_mut().poll(cx).is_pending(),
                "the nested call runs"
            );
            Poll::Ready(())
        })
        .await;
        *escaped.borrow_mut() = Some(nested);
    });
    assert_eq!(futures::executor::block_on(parent), Ok(()));
    assert!(
        escaped.borrow().is_some(),
        "the nested call is still in flight"
    );
    let mut newcomer = Box::pin(pool.submit(async { "newcomer" }));
    assert!(
        newcomer
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending(),
        "the newcomer must wait while the nested call holds the slot"
    );
    release.store(true, Ordering::SeqCst);
}
