//! Bounded stress tests of the admission core: many callers of every kind on
//! one pool while a controller thread scales, resizes, pauses and resumes it.
//!
//! Eight OS threads share one pool: three run a tokio `current_thread` runtime
//! each (calls are spawned tasks, cancelled by `tokio::time::timeout`), three
//! use `futures::executor::block_on` (calls are `join_all`ed, cancelled by
//! losing a `select` against a future that yields a few times), two use the
//! sync `run` (which parks the thread). Calls have random weights, sometimes
//! never reject (`Group::submit_wait` / `run_wait`), sometimes make a nested
//! call into the same pool, and sometimes panic. The pool has a bound on
//! waiting calls and (in two of the three tests) an admission timeout.
//!
//! Bounded in count (`CALLS_PER_THREAD`) and in time (`SOFT_DEADLINE` stops
//! intake; a call still unfinished at `HARD_DEADLINE` fails the test with the
//! pool's stats instead of hanging it). Each test takes a couple of seconds in
//! debug. `STRESS_SEED=<n>` reruns with another seed (scheduling still varies).
//!
//! With the pool quiet at the end, each test checks:
//! * nothing runs or waits, and nothing is paused;
//! * every call that reached the pool is accounted for, exactly, per outcome:
//!   the pool's counters equal the callers' own tally, and
//!   `completed + rejected_total() + cancelled == submitted() ==` the calls
//!   that reached their first poll;
//! * no slot leaked or appeared: after `resize(n)`, exactly `n` calls are
//!   admitted at once and the next one waits (checked with poll-level futures);
//! * no admission ever made the running count exceed the limit (see
//!   [`Harness::check_admission`] for why the check is sound);
//! * every result is the right one, every rejection a legal one, every panic
//!   the one the work raised.

use futures::future::{self, Either};
use futures::FutureExt;
use pool_runtime::{Group, GroupSpec, Kind, Order, Pool, Rejected};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Mutex, RwLock};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

const TOKIO_THREADS: usize = 3;
const BLOCK_ON_THREADS: usize = 3;
const SYNC_THREADS: usize = 2;
const CALLS_PER_THREAD: usize = 20_000;
/// Intake stops here even if the threads have calls left.
const SOFT_DEADLINE: Duration = Duration::from_secs(2);
/// A call unfinished here is a hang (a lost wakeup or a lost slot).
const HARD_DEADLINE: Duration = Duration::from_secs(12);
/// The largest size the controller sets.
const MAX_SIZE: usize = 6;
const MAX_WAITING: usize = 16;
/// The payload of the panics the work raises on purpose.
const PANIC_MARK: &str = "stress: intended panic";

/// xorshift64*: small, seedable, good enough to pick actions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Spread nearby seeds apart; never zero.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 11) % n
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// What one call does.
#[derive(Clone, Copy, Debug)]
struct Plan {
    weight: i64,
    /// Times the work yields while holding its slot.
    yields: u32,
    /// Blocks the thread this long while holding the slot (contention across threads).
    sleep_us: u64,
    /// Makes a call into the same pool from inside the work.
    nested: bool,
    panics: bool,
    /// `submit_wait` / `run_wait` instead of the rejecting forms.
    never_reject: bool,
    /// Drop the call after about this many polls (or that many 100 µs for tokio).
    cancel_after: Option<u32>,
    value: u64,
}

impl Plan {
    fn random(rng: &mut Rng) -> Plan {
        Plan {
            weight: rng.below(9) as i64 - 4,
            yields: rng.below(4) as u32,
            sleep_us: match rng.below(100) {
                0 => 1_000 + rng.below(2_000),
                1..=10 => rng.below(300),
                _ => 0,
            },
            nested: rng.percent(10),
            panics: rng.percent(4),
            never_reject: rng.percent(15),
            cancel_after: rng.percent(25).then(|| rng.below(6) as u32),
            value: rng.next(),
        }
    }
}

/// How a call ended, as its caller saw it.
#[derive(Debug)]
enum Outcome {
    Ran,
    Rejected(Rejected),
    Cancelled,
    Panicked,
}

#[derive(Default)]
struct Tally {
    ran: AtomicU64,
    nested: AtomicU64,
    cancelled: AtomicU64,
    panicked: AtomicU64,
    rejected: [AtomicU64; 4],
}

struct Harness {
    group: Group,
    timeout: Option<Duration>,
    /// Every limit the pool has had, in order. The pool's limit changes only
    /// while the controller holds the write lock (no autoscaling), so under a
    /// read lock the last entry is the limit in force.
    limits: RwLock<Vec<usize>>,
    /// Calls that reached the pool: first polls of async calls, sync calls
    /// entered, nested calls made.
    reached: AtomicU64,
    /// Bodies running now, counted from outside the pool: a call's work
    /// counts while it runs, not while it waits for a nested call.
    bodies: AtomicUsize,
    tally: Tally,
    errors: Mutex<Vec<String>>,
    start: Instant,
}

impl Harness {
    fn new(order: Order, timeout: Option<Duration>) -> &'static Harness {
        let mut spec = GroupSpec::new("stress")
            .kind(Kind::Fixed)
            .order(order)
            .size(3)
            .max_waiting(MAX_WAITING);
        if let Some(timeout) = timeout {
            spec = spec.admission_timeout(timeout);
        }
        Box::leak(Box::new(Harness {
            group: Group::new(spec),
            timeout,
            limits: RwLock::new(vec![3]),
            reached: AtomicU64::new(0),
            bodies: AtomicUsize::new(0),
            tally: Tally::default(),
            errors: Mutex::new(Vec::new()),
            start: Instant::now(),
        }))
    }

    fn pool(&self) -> &Pool {
        self.group.pool()
    }

    fn error(&self, message: String) {
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 20 {
            errors.push(message);
        }
    }

    fn intake_open(&self) -> bool {
        self.start.elapsed() < SOFT_DEADLINE
    }

    /// The index of the limit in force now; taken before a call first
    /// reaches the pool, so before it can be admitted.
    fn epoch(&self) -> usize {
        self.limits.read().unwrap().len() - 1
    }

    /// Called first thing in a call's work, i.e. after its admission, with the
    /// `epoch` taken before it reached the pool.
    ///
    /// Why this is sound: a scale-down does not interrupt running work, so a
    /// running count above the *current* limit is legal. What must never
    /// happen is an admission that makes `running > limit` at that moment.
    /// Let `t` be the latest admission before now (our own admission is one,
    /// so `t` lies after `epoch` was taken). Since `t` the running count has
    /// only gone down, so `running(now) <= running(t) <= limit(t)`, and
    /// `limit(t)` is one of the limits in force between `epoch` and now —
    /// all recorded in `limits[epoch..]`, because the read lock keeps the
    /// controller from changing the limit between our reads. So a correct
    /// core always satisfies `running(now) <= max(limits[epoch..])`, and an
    /// over-admission still running now violates it. Our own slot also makes
    /// `running >= 1`.
    ///
    /// The same bound holds for the bodies counted from outside: each body
    /// runs on a slot of its own or on a lent one whose lender is not running
    /// its body, so `bodies(now) <= running(now)`. Returns the body's guard.
    fn check_admission(&self, epoch: usize) -> Body<'_> {
        let body = Body::enter(self);
        let limits = self.limits.read().unwrap();
        let running = self.pool().stats().running;
        let allowed = limits[epoch..].iter().copied().max().unwrap_or(0);
        if running > allowed || running == 0 {
            self.error(format!(
                "admitted with running = {running}, limits since reaching the pool = {:?}",
                &limits[epoch..]
            ));
        }
        if body.now > allowed {
            self.error(format!(
                "{} bodies running at once, limits since reaching the pool = {:?}",
                body.now,
                &limits[epoch..]
            ));
        }
        body
    }

    fn record(&self, plan: &Plan, outcome: Outcome) {
        let tally = &self.tally;
        match outcome {
            Outcome::Ran => tally.ran.fetch_add(1, SeqCst),
            Outcome::Cancelled => tally.cancelled.fetch_add(1, SeqCst),
            Outcome::Panicked => {
                if !plan.panics {
                    self.error(format!("a call that does not panic panicked: {plan:?}"));
                }
                tally.panicked.fetch_add(1, SeqCst)
            }
            Outcome::Rejected(reason) => {
                let legal = match reason {
                    Rejected::Paused | Rejected::Full => true,
                    Rejected::TimedOut => self.timeout.is_some(),
                    _ => false,
                };
                if plan.never_reject || !legal {
                    self.error(format!("illegal rejection {reason:?} of {plan:?}"));
                }
                tally.rejected[index(reason)].fetch_add(1, SeqCst)
            }
        };
    }

    /// Sorts out a panic payload: ours, or a failure.
    fn panicked(&self, payload: Box<dyn std::any::Any + Send>) -> Outcome {
        let ours = payload.downcast_ref::<&str>() == Some(&PANIC_MARK);
        if !ours {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
            self.error(format!("unexpected panic: {text:?}"));
        }
        Outcome::Panicked
    }

    fn result(&self, plan: &Plan, result: Result<u64, Rejected>) -> Outcome {
        match result {
            Ok(value) if value == plan.value => Outcome::Ran,
            Ok(value) => {
                self.error(format!("wrong result {value} for {plan:?}"));
                Outcome::Ran
            }
            Err(reason) => Outcome::Rejected(reason),
        }
    }
}

fn index(reason: Rejected) -> usize {
    Rejected::ALL.iter().position(|&r| r == reason).unwrap()
}

/// Pending once (waking itself), then ready.
#[derive(Default)]
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

async fn yield_times(n: u32) {
    for _ in 0..n {
        YieldNow::default().await;
    }
}

fn raise_intended_panic() -> ! {
    // `resume_unwind` skips the panic hook: no noise, same unwinding.
    panic::resume_unwind(Box::new(PANIC_MARK))
}

/// A body counted from outside the pool while it lives.
struct Body<'a> {
    h: &'a Harness,
    now: usize,
}

impl<'a> Body<'a> {
    fn enter(h: &'a Harness) -> Self {
        let now = h.bodies.fetch_add(1, SeqCst) + 1;
        Body { h, now }
    }
}

impl Drop for Body<'_> {
    fn drop(&mut self) {
        self.h.bodies.fetch_sub(1, SeqCst);
    }
}

async fn async_work(h: &'static Harness, plan: Plan, epoch: usize) -> u64 {
    let body = h.check_admission(epoch);
    yield_times(plan.yields).await;
    if plan.sleep_us > 0 {
        thread::sleep(Duration::from_micros(plan.sleep_us));
    }
    if plan.nested {
        // We wait for our nested calls, so our body stops counting.
        drop(body);
        if plan.yields % 2 == 0 {
            // One borrows our slot; the other waits for it or for a free slot.
            h.reached.fetch_add(2, SeqCst);
            futures::join!(nested_call(h, epoch, 1), nested_call(h, epoch, 1));
        } else {
            // Borrows our slot: admitted at once even when the pool is full,
            // paused, or its queue is at its bound, and done in its first poll.
            h.reached.fetch_add(1, SeqCst);
            nested_call(h, epoch, 0).await;
        }
        let _body = h.check_admission(epoch);
    }
    if plan.panics {
        raise_intended_panic();
    }
    plan.value
}

/// A call into the same pool from inside the work of a call that reached it
/// at `epoch` (it runs on that call's slot, or on a slot admitted after it),
/// tallied however it ends — cancelled too, when its parent is.
async fn nested_call(h: &'static Harness, epoch: usize, yields: u32) {
    struct Unfinished(&'static Harness);
    impl Drop for Unfinished {
        fn drop(&mut self) {
            self.0.tally.cancelled.fetch_add(1, SeqCst);
        }
    }
    let unfinished = Unfinished(h);
    let out = h
        .pool()
        .submit(async move {
            let _body = h.check_admission(epoch);
            yield_times(yields).await;
            7
        })
        .await;
    std::mem::forget(unfinished);
    match out {
        Ok(7) => h.tally.nested.fetch_add(1, SeqCst),
        Err(Rejected::TimedOut) if h.timeout.is_some() => {
            h.tally.rejected[index(Rejected::TimedOut)].fetch_add(1, SeqCst)
        }
        other => {
            h.error(format!("nested call returned {other:?}"));
            0
        }
    };
}

fn sync_work(h: &'static Harness, plan: Plan, epoch: usize) -> u64 {
    let body = h.check_admission(epoch);
    if plan.sleep_us > 0 {
        thread::sleep(Duration::from_micros(plan.sleep_us));
    }
    if plan.nested {
        drop(body);
        h.reached.fetch_add(1, SeqCst);
        // The nested call runs on our slot, admitted after our `epoch`.
        let out = h.pool().run(|| {
            let _body = h.check_admission(epoch);
            7
        });
        let _body = h.check_admission(epoch);
        match out {
            Ok(7) => h.tally.nested.fetch_add(1, SeqCst),
            other => {
                h.error(format!("nested call returned {other:?}"));
                0
            }
        };
    }
    if plan.panics {
        raise_intended_panic();
    }
    plan.value
}

/// One async call; its first poll is the pool's first poll of the call.
async fn async_call(h: &'static Harness, plan: Plan) -> Result<u64, Rejected> {
    let epoch = h.epoch();
    h.reached.fetch_add(1, SeqCst);
    let work = async_work(h, plan, epoch);
    if plan.never_reject {
        Ok(h.group.submit_wait(plan.weight, work).await)
    } else {
        h.pool().submit_weighted(plan.weight, work).await
    }
}

fn sync_call(h: &'static Harness, plan: Plan) -> Outcome {
    let epoch = h.epoch();
    h.reached.fetch_add(1, SeqCst);
    let body = move || sync_work(h, plan, epoch);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        if plan.never_reject {
            Ok(h.group.run_wait(plan.weight, body))
        } else {
            h.pool().run_weighted(plan.weight, body)
        }
    }));
    match caught {
        Ok(result) => h.result(&plan, result),
        Err(payload) => h.panicked(payload),
    }
}

fn tokio_thread(h: &'static Harness, seed: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut rng = Rng::new(seed);
        let mut started = 0;
        while started < CALLS_PER_THREAD && h.intake_open() {
            let batch = 2 + rng.below(10) as usize;
            let mut calls = Vec::with_capacity(batch);
            for _ in 0..batch {
                let plan = Plan::random(&mut rng);
                let task = tokio::spawn(async move {
                    let call = async_call(h, plan);
                    let result = match plan.cancel_after {
                        None => call.await,
                        Some(n) => {
                            let limit = Duration::from_micros(u64::from(n) * 100);
                            match tokio::time::timeout(limit, call).await {
                                Ok(result) => result,
                                Err(_elapsed) => return Outcome::Cancelled,
                            }
                        }
                    };
                    h.result(&plan, result)
                });
                calls.push((plan, task));
            }
            started += batch;
            for (plan, task) in calls {
                let outcome = match task.await {
                    Ok(outcome) => outcome,
                    Err(join) if join.is_panic() => h.panicked(join.into_panic()),
                    Err(join) => {
                        h.error(format!("task failed: {join}"));
                        continue;
                    }
                };
                h.record(&plan, outcome);
            }
        }
    });
}

fn block_on_thread(h: &'static Harness, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut started = 0;
    while started < CALLS_PER_THREAD && h.intake_open() {
        let batch = 2 + rng.below(10) as usize;
        let plans: Vec<Plan> = (0..batch).map(|_| Plan::random(&mut rng)).collect();
        let calls = plans.iter().map(|&plan| {
            let call = async move {
                let call = Box::pin(async_call(h, plan));
                let result = match plan.cancel_after {
                    None => call.await,
                    Some(n) => {
                        // Drop the call after `n` rounds of polling, whatever
                        // state it is in (select polls the call first).
                        let giving_up = Box::pin(yield_times(n));
                        match future::select(call, giving_up).await {
                            Either::Left((result, _)) => result,
                            Either::Right(((), _call)) => return Outcome::Cancelled,
                        }
                    }
                };
                h.result(&plan, result)
            };
            AssertUnwindSafe(call).catch_unwind()
        });
        let outcomes = futures::executor::block_on(future::join_all(calls));
        started += batch;
        for (plan, outcome) in plans.iter().zip(outcomes) {
            let outcome = outcome.unwrap_or_else(|payload| h.panicked(payload));
            h.record(plan, outcome);
        }
    }
}

fn sync_thread(h: &'static Harness, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut started = 0;
    while started < CALLS_PER_THREAD && h.intake_open() {
        let plan = Plan::random(&mut rng);
        let outcome = sync_call(h, plan);
        h.record(&plan, outcome);
        started += 1;
    }
}

/// Scales, resizes, pauses and resumes the pool until told to stop. Every
/// limit change happens under the write lock of `h.limits` and is recorded.
fn controller(h: &'static Harness, seed: u64, stop: &AtomicBool) {
    let mut rng = Rng::new(seed);
    let pool = h.pool();
    while !stop.load(SeqCst) {
        match rng.below(10) {
            0..=3 => {
                let mut limits = h.limits.write().unwrap();
                let current = *limits.last().unwrap();
                let delta = [-2, -1, 1, 2][rng.below(4) as usize];
                let expected = current.saturating_add_signed(delta);
                let size = if expected > MAX_SIZE {
                    pool.resize(MAX_SIZE)
                } else {
                    let size = pool.scale(delta);
                    if size != expected {
                        h.error(format!("scale({delta}) from {current} gave {size}"));
                    }
                    size
                };
                limits.push(size);
            }
            4..=5 => {
                let mut limits = h.limits.write().unwrap();
                let size = pool.resize(rng.below(MAX_SIZE as u64 + 1) as usize);
                limits.push(size);
            }
            6..=7 => {
                pool.pause();
                thread::sleep(Duration::from_micros(rng.below(400)));
                pool.resume();
            }
            _ => {}
        }
        // Never leave the pool shut for long: intake of waiting calls must
        // keep going, or only the hard deadline would end the test.
        if pool.size() == 0 && rng.percent(50) {
            let mut limits = h.limits.write().unwrap();
            limits.push(pool.resize(1 + rng.below(MAX_SIZE as u64) as usize));
        }
        thread::sleep(Duration::from_micros(rng.below(800)));
    }
}

/// A future whose work is admitted (counted in `admitted`) and then waits
/// for `open`.
fn gated<'a>(
    pool: &'a Pool,
    admitted: &'a AtomicUsize,
    open: &'a AtomicBool,
) -> Pin<Box<dyn Future<Output = Result<(), Rejected>> + 'a>> {
    Box::pin(pool.submit(async move {
        admitted.fetch_add(1, SeqCst);
        future::poll_fn(|_| {
            if open.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }))
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// After `resize(n)` on a quiet pool, exactly `n` calls are admitted at once
/// and the next one waits: no slot leaked, none appeared.
fn assert_exactly_n_slots(pool: &Pool, n: usize) {
    assert_eq!(pool.resize(n), n);
    let admitted = AtomicUsize::new(0);
    let open = AtomicBool::new(false);
    let mut calls: Vec<_> = (0..=n).map(|_| gated(pool, &admitted, &open)).collect();
    for call in &mut calls {
        assert!(poll_once(call.as_mut()).is_pending());
    }
    let stats = pool.stats();
    assert_eq!(
        (admitted.load(SeqCst), stats.running, stats.waiting),
        (n, n, 1),
        "{n} slots: (admitted, running, waiting)"
    );
    open.store(true, SeqCst);
    // Each finished call hands its slot on; a few rounds finish them all.
    for _ in 0..=n + 1 {
        for call in &mut calls {
            let _ = poll_once(call.as_mut());
        }
    }
    assert_eq!(admitted.load(SeqCst), n + 1);
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0));
}

fn seed(default: u64) -> u64 {
    std::env::var("STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn stress(order: Order, timeout: Option<Duration>, default_seed: u64) {
    let seed = seed(default_seed);
    let h = Harness::new(order, timeout);
    let (done_tx, done_rx) = mpsc::channel();
    let mut workers = Vec::new();
    for i in 0..TOKIO_THREADS + BLOCK_ON_THREADS + SYNC_THREADS {
        let done = done_tx.clone();
        let thread_seed = seed.wrapping_add(i as u64 + 1);
        workers.push(thread::spawn(move || {
            if i < TOKIO_THREADS {
                tokio_thread(h, thread_seed);
            } else if i < TOKIO_THREADS + BLOCK_ON_THREADS {
                block_on_thread(h, thread_seed);
            } else {
                sync_thread(h, thread_seed);
            }
            let _ = done.send(i);
        }));
    }
    drop(done_tx);
    let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let control = thread::spawn(move || controller(h, seed, stop));

    let mut finished = 0;
    while finished < workers.len() {
        let left = HARD_DEADLINE.saturating_sub(h.start.elapsed());
        match done_rx.recv_timeout(left) {
            Ok(_) => finished += 1,
            // A worker panicked (outside any call); its join below says why.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                stop.store(true, SeqCst);
                panic!(
                    "seed {seed}: {} of {} threads still waiting after {HARD_DEADLINE:?} \
                     (lost wakeup or lost slot); stats: {:?}; errors: {:?}",
                    workers.len() - finished,
                    workers.len(),
                    h.pool().stats(),
                    h.errors.lock().unwrap()
                );
            }
        }
    }
    stop.store(true, SeqCst);
    control.join().expect("controller");
    for worker in workers {
        worker.join().expect("worker thread");
    }
    let elapsed = h.start.elapsed();

    let pool = h.pool();
    let errors = h.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "seed {seed}: {errors:#?}");

    let stats = pool.stats();
    let t = &h.tally;
    let rejected: Vec<u64> = t.rejected.iter().map(|r| r.load(SeqCst)).collect();
    let reached = h.reached.load(SeqCst);
    eprintln!(
        "stress {order:?} timeout {timeout:?} seed {seed}: {reached} calls in {elapsed:?}, \
         {} limit changes; {stats:?}",
        h.limits.read().unwrap().len()
    );
    assert_eq!((stats.running, stats.waiting), (0, 0), "seed {seed}: quiet");
    assert!(!stats.paused && !stats.closed);
    assert_eq!(
        stats.completed + stats.rejected_total() + stats.cancelled,
        reached,
        "seed {seed}: every call that reached the pool is accounted for"
    );
    assert_eq!(stats.submitted(), reached, "seed {seed}");
    assert_eq!(
        (
            stats.completed,
            stats.panicked,
            stats.cancelled,
            // A pool's four reasons (fleet reasons are FleetStats').
            Rejected::ALL[..4]
                .iter()
                .map(|&r| stats.rejected_for(r))
                .collect::<Vec<_>>()
        ),
        (
            t.ran.load(SeqCst) + t.panicked.load(SeqCst) + t.nested.load(SeqCst),
            t.panicked.load(SeqCst),
            t.cancelled.load(SeqCst),
            rejected
        ),
        "seed {seed}: the pool's counters equal the callers' tally"
    );
    // The run exercised what it claims to (each happens hundreds of times).
    assert!(t.cancelled.load(SeqCst) > 0, "seed {seed}: no cancellation");
    assert!(t.panicked.load(SeqCst) > 0, "seed {seed}: no panic");
    assert!(t.nested.load(SeqCst) > 0, "seed {seed}: no nested call");
    assert!(stats.rejected_for(Rejected::Paused) > 0, "seed {seed}");
    assert!(stats.rejected_for(Rejected::Full) > 0, "seed {seed}");
    if timeout.is_some() {
        assert!(stats.rejected_for(Rejected::TimedOut) > 0, "seed {seed}");
    }

    // The slot count below polls by hand: under a 1 ms admission deadline the
    // waiting call would (rightly) time out whenever this thread is
    // descheduled for a millisecond between two polls, as on a loaded CI
    // machine. The deadline is not what is counted here.
    pool.set_admission_timeout(None);
    for n in [1, 3, MAX_SIZE] {
        assert_exactly_n_slots(pool, n);
    }
}

#[test]
fn fifo_pool_under_stress_with_admission_timeout_loses_nothing_and_never_overadmits() {
    stress(Order::Fifo, Some(Duration::from_millis(1)), 0xF1F0);
}

#[test]
fn lifo_pool_under_stress_without_admission_timeout_loses_nothing_and_never_overadmits() {
    // No admission timeout: a lost wakeup or a lost slot can only end in the
    // hard deadline (calls without `cancel_after` wait for as long as it takes).
    stress(Order::Lifo, None, 0x11F0);
}

#[test]
fn priority_pool_under_stress_with_admission_timeout_loses_nothing_and_never_overadmits() {
    stress(Order::Priority, Some(Duration::from_millis(1)), 0x9210);
}

/// Records what the pool looked like while a call's work was being dropped.
struct DropProbe<'a> {
    pool: &'a Pool,
    seen: &'a Mutex<Option<(usize, usize)>>,
}

impl Drop for DropProbe<'_> {
    fn drop(&mut self) {
        let stats = self.pool.stats();
        *self.seen.lock().unwrap() = Some((stats.running, stats.waiting));
    }
}

/// Not a stress test: the release path the stress tests cannot observe.
/// A running call that is dropped keeps its slot until its work — and what
/// the work owns (a connection, a buffer to flush) — has been dropped, as
/// tower's `ConcurrencyLimit` response future does (its `inner` drops before
/// its permit). Otherwise the next call is admitted while the previous
/// call's destructors still run, and "at most `size` at once" no longer
/// holds for the resources the work guards.
#[test]
fn cancelled_running_call_keeps_its_slot_until_its_work_is_dropped() {
    let pool = Pool::fixed(1);
    let seen = Mutex::new(None);
    let mut running = Box::pin(pool.submit(async {
        let _probe = DropProbe {
            pool: &pool,
            seen: &seen,
        };
        future::pending::<()>().await
    }));
    assert!(poll_once(running.as_mut()).is_pending());
    let mut next = Box::pin(pool.submit(async { 1 }));
    assert!(poll_once(next.as_mut()).is_pending());
    assert_eq!((pool.stats().running, pool.stats().waiting), (1, 1));

    drop(running);
    assert_eq!(
        *seen.lock().unwrap(),
        Some((1, 1)),
        "(running, waiting) while the cancelled work was dropped: \
         its slot must not have been handed on yet"
    );
    assert_eq!(poll_once(next.as_mut()), Poll::Ready(Ok(1)));
    assert_eq!(pool.stats().cancelled, 1);
}
