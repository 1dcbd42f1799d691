//! Acceptance tests of the facade, round 20: sentences of the attribute's
//! documentation (`pool-macros/src/lib.rs`) that no earlier test checks —
//! a `Result` alias under another name, the task an async body runs in,
//! one pool across runtimes and executors, `sync_barging = "0s"`, a renamed
//! `…Future` type, link-time registration of items never instantiated or
//! never called, an unsendable boxed future, and the ends of the keys
//! table's ranges. Each test quotes its sentence with its line number.
//! Concurrency is counted by the bodies themselves ([`Meter`]); waits are
//! bounded only to turn a hang into a failure.
#![cfg(feature = "tokio")]

mod common;
use common::{multi_thread, within, Meter};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// Every wait is over by then, or the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// Waits (on this thread) until `cond` holds; a hang is a failure.
#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "hung: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------

/// A `Result` under another name: the attribute cannot see through it.
type Reply<T> = Result<T, pooled::Rejected>;

#[pooled::pooled(size = 1)]
fn replied(n: u32) -> Reply<u32> {
    Ok(n)
}

#[pooled::pooled(size = 1)]
async fn replied_async(n: u32) -> Reply<u32> {
    Ok(n)
}

/// pool-macros/src/lib.rs:368-370: "an alias under another name (`type
/// Reply<T> = Result<T, MyError>`) is not recognised, and such a function
/// never rejects (it waits, as the second row says)" — the second row:
/// "`Paused`: waits until `resume()`".
#[test]
fn a_result_alias_under_another_name_never_rejects_and_waits_through_a_pause() {
    // Sync: the caller parks until the pool resumes, then gets `Ok`.
    REPLIED_POOL.pause();
    let caller = std::thread::spawn(|| replied(7));
    wait_until("the sync call waits in the paused pool", || {
        REPLIED_POOL.stats().waiting == 1 || caller.is_finished()
    });
    assert!(
        !caller.is_finished(),
        "the call returned while the pool was paused: {:?}",
        caller.join()
    );
    REPLIED_POOL.resume();
    assert_eq!(within(DEADLINE, move || caller.join().unwrap()), Ok(7));

    // Async: the same, in a task.
    let rt = multi_thread();
    REPLIED_ASYNC_POOL.pause();
    let task = rt.spawn(replied_async(8));
    wait_until("the async call waits in the paused pool", || {
        REPLIED_ASYNC_POOL.stats().waiting == 1 || task.is_finished()
    });
    assert!(
        !task.is_finished(),
        "the call returned while the pool was paused: {:?}",
        rt.block_on(task)
    );
    REPLIED_ASYNC_POOL.resume();
    let out = rt.block_on(async { tokio::time::timeout(DEADLINE, task).await });
    assert_eq!(out.expect("hung").unwrap(), Ok(8));
    assert_eq!(
        REPLIED_ASYNC_POOL
            .stats()
            .rejected_for(pooled::Rejected::Paused),
        0
    );
    assert_eq!(
        REPLIED_POOL.stats().rejected_for(pooled::Rejected::Paused),
        0
    );
}

// ---------------------------------------------------------------------------

tokio::task_local! {
    static CALLER: u32;
}

/// What the body sees of the task it runs in.
#[pooled::pooled(size = 1)]
async fn where_am_i() -> (Option<u32>, Option<tokio::task::Id>) {
    tokio::task::yield_now().await;
    (CALLER.try_with(|v| *v).ok(), tokio::task::try_id())
}

/// pool-macros/src/lib.rs:110-112: "It is an admission controller, not a set
/// of workers: the body runs in the caller's own task (or thread)", and
/// :402: "An async function stays async and waits for its slot in its own
/// task." The body sees the caller's task-local value and task id, also when
/// it first had to wait for the slot.
#[test]
fn an_async_body_runs_in_its_callers_own_task() {
    let rt = multi_thread();
    rt.block_on(async {
        // Once with a free slot, once after waiting behind a held one.
        let holder = WHERE_AM_I_POOL.try_acquire(0).expect("a free slot");
        let waiting =
            tokio::spawn(CALLER.scope(11, async { (where_am_i().await, tokio::task::id()) }));
        let start = Instant::now();
        while WHERE_AM_I_POOL.stats().waiting == 0 && !waiting.is_finished() {
            assert!(start.elapsed() < DEADLINE, "hung: the call never queued");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(holder);
        let free =
            tokio::spawn(CALLER.scope(12, async { (where_am_i().await, tokio::task::id()) }));
        for (task, expected) in [(waiting, 11), (free, 12)] {
            let ((local, body_task), caller_task) = tokio::time::timeout(DEADLINE, task)
                .await
                .expect("hung")
                .unwrap();
            assert_eq!(
                local,
                Some(expected),
                "the body lost the caller's task-local"
            );
            assert_eq!(body_task, Some(caller_task), "the body ran in another task");
        }
    });
}

// ---------------------------------------------------------------------------

static EVERYWHERE: Meter = Meter::new();
static EVERYWHERE_RELEASE: AtomicBool = AtomicBool::new(false);

/// Holds its slot until released (it blocks its executor's thread on
/// purpose: each executor here runs this one call and nothing else).
#[pooled::pooled(size = 2)]
async fn everywhere() -> u32 {
    let _inside = EVERYWHERE.enter();
    let start = Instant::now();
    while !EVERYWHERE_RELEASE.load(SeqCst) && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(1));
    }
    1
}

/// pool-macros/src/lib.rs:110-112: "The pool is global and starts on first
/// use. ... nothing needs to be `'static` or `Send`, and one pool serves
/// every runtime." Calls from a current-thread runtime, a multi-thread
/// runtime and `futures::executor::block_on` share one limit of 2: the third
/// waits until one of the first two ends.
#[test]
fn one_pool_serves_every_runtime_with_one_limit() {
    let current = std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(everywhere())
    });
    let multi = std::thread::spawn(|| multi_thread().block_on(everywhere()));
    wait_until("two calls from two runtimes run", || EVERYWHERE.now() == 2);
    let plain = std::thread::spawn(|| futures::executor::block_on(everywhere()));
    wait_until("the third call queues", || {
        EVERYWHERE_POOL.stats().waiting == 1 || EVERYWHERE.now() > 2
    });
    assert_eq!(
        EVERYWHERE.now(),
        2,
        "a third runtime's call ran past the limit"
    );
    EVERYWHERE_RELEASE.store(true, SeqCst);
    for caller in [current, multi, plain] {
        assert_eq!(within(DEADLINE, move || caller.join().unwrap()), 1);
    }
    assert_eq!(EVERYWHERE.peak(), 2);
    assert_eq!(EVERYWHERE_POOL.stats().completed, 3);
}

// ---------------------------------------------------------------------------

#[pooled::pooled(size = 2, sync_barging = "0s")]
fn barging_off() {}

#[pooled::pooled(size = 2, sync_barging = "3ms")]
fn barging_on() {}

/// pool-macros/src/lib.rs:125: "`sync_barging` | duration literal | off |
/// ... (`GroupSettings::sync_barging`; `\"0s\"` is off)".
#[test]
fn sync_barging_of_zero_seconds_is_off() {
    assert_eq!(BARGING_OFF_POOL.spec().settings().sync_barging, None);
    assert_eq!(
        BARGING_ON_POOL.spec().settings().sync_barging,
        Some(Duration::from_millis(3))
    );
    barging_off();
    barging_on();
    assert_eq!(BARGING_OFF_POOL.settings().sync_barging, None);
}

// ---------------------------------------------------------------------------

mod plans {
    /// Named like a future, but a plain value.
    #[derive(Debug, PartialEq)]
    pub struct PlanFuture(pub u32);
}

use plans::PlanFuture as Plan;

static PLANNING: Meter = Meter::new();

#[pooled::pooled(size = 1)]
fn plan(n: u32) -> Plan {
    let _inside = PLANNING.enter();
    std::thread::sleep(Duration::from_millis(20));
    Plan(n)
}

/// pool-macros/src/lib.rs:506-507: "Conversely, a type named `…Future` that is
/// not a future can be named through a `use … as` rename." The function is a
/// plain sync one: it returns its value, and its bodies hold the slot.
#[test]
fn a_future_named_type_renamed_through_use_as_is_a_plain_value() {
    let callers: Vec<_> = (0..3)
        .map(|n| std::thread::spawn(move || plan(n)))
        .collect();
    let plans: Vec<Plan> = callers
        .into_iter()
        .map(|caller| within(DEADLINE, move || caller.join().unwrap()))
        .collect();
    assert_eq!(plans, vec![Plan(0), Plan(1), Plan(2)]);
    assert_eq!(PLANNING.peak(), 1);
    assert_eq!(PLAN_POOL.stats().completed, 3);
}

// ---------------------------------------------------------------------------

/// A generic type whose pooled method nothing ever instantiates.
struct Shelf<T>(T);

impl<T: Copy> Shelf<T> {
    #[allow(dead_code)]
    #[pooled::pooled(size = 2)]
    fn never_instantiated(&self) -> T {
        self.0
    }
}

/// A generic function nothing ever instantiates.
#[allow(dead_code)]
#[pooled::pooled(size = 2)]
fn generic_never_called<T: Default>() -> T {
    T::default()
}

/// Items declared in a function nothing calls.
#[allow(dead_code)]
fn never_runs() {
    #[pooled::group(size = 1)]
    struct Hidden;

    #[pooled::pooled(group = Hidden)]
    fn hidden_member() {}

    #[pooled::pooled(size = 1)]
    fn hidden_own() {}

    hidden_member();
    hidden_own();
}

/// pool-macros/src/lib.rs:188-191: "Every group is registered at link time, so
/// application-wide configuration and `pooled::registered_groups()` know it
/// before its first call; its pool starts on first use. A generic function,
/// or a method of a generic `impl`, has one pool for all its
/// instantiations." — so also for none: the groups of a never-instantiated
/// generic method and function, and of items inside a never-called
/// function, are listed, unstarted.
#[test]
fn groups_of_uninstantiated_generics_and_uncalled_bodies_are_registered() {
    let groups: Vec<&pooled::Group> = pooled::registered_groups().collect();
    let names: Vec<&str> = groups.iter().map(|group| group.name()).collect();
    for name in [
        "acceptance_round20::never_instantiated",
        "acceptance_round20::generic_never_called",
        "acceptance_round20::Hidden",
        "acceptance_round20::hidden_own",
    ] {
        let group = groups
            .iter()
            .find(|group| group.name() == name)
            .unwrap_or_else(|| panic!("{name} missing from {names:?}"));
        assert!(!group.is_started(), "{name}: listing started it");
    }
}

// ---------------------------------------------------------------------------

static UNSENDABLE: Meter = Meter::new();

/// A body that stays inside until `others` more bodies of its meter are
/// inside too, or 300 ms have passed (so a body that runs alone ends).
async fn inside_until_joined(meter: &'static Meter, others: usize) {
    let _inside = meter.enter();
    let start = Instant::now();
    while meter.now() < others + 1 && start.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[pooled::pooled(size = 1)]
fn unsendable(cell: &std::rc::Rc<std::cell::Cell<u32>>) -> Pin<Box<dyn Future<Output = u32> + '_>> {
    Box::pin(async move {
        inside_until_joined(&UNSENDABLE, 1).await;
        cell.set(cell.get() + 1);
        cell.get()
    })
}

/// pool-macros/src/lib.rs:447-448: "`Pin<Box<dyn Future<Output = T> + ..>>`
/// (with or without `Send` ...)" is recognised, and :453-454: "polls the built
/// future while holding the slot, so the slot is held until the built
/// future completes". A boxed future that is not `Send` (it holds an `Rc`)
/// and borrows its argument: two of them joined in one task never overlap.
#[test]
fn an_unsendable_boxed_future_holds_its_slot_until_it_completes() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cell = std::rc::Rc::new(std::cell::Cell::new(0));
    let (a, b) = rt.block_on(async {
        tokio::time::timeout(DEADLINE, async {
            tokio::join!(unsendable(&cell), unsendable(&cell))
        })
        .await
        .expect("hung")
    });
    assert_eq!((a.min(b), a.max(b)), (1, 2));
    assert_eq!(UNSENDABLE.peak(), 1, "the built futures ran at once");
    assert_eq!(UNSENDABLE_POOL.stats().completed, 2);
}

// ---------------------------------------------------------------------------

/// The largest `min` whose default `max` (`min + 5`) passes `MAX_SLOTS`.
#[allow(dead_code)]
#[pooled::pooled(kind = "autoscale", min = 1_073_741_820)]
fn near_the_ceiling() {}

#[pooled::pooled(kind = "autoscale", autoscale_window = 1, autoscale_interval = "1ns")]
fn narrowest_window() {}

#[pooled::pooled(kind = "autoscale", autoscale_window = 4096)]
fn widest_window() {}

/// pool-macros/src/lib.rs:122: "`max` | integer ≥ 1, ≥ `min` | `min + 5` (at
/// most `MAX_SLOTS`)", and :126-127: "`autoscale_interval` | duration
/// literal > 0", "`autoscale_window` | integer, 1 to 4096": the ends of the
/// ranges are accepted and reach the pool.
#[test]
fn the_ends_of_the_keys_tables_ranges_are_accepted() {
    assert_eq!(
        near_the_ceiling_bounds(),
        (1_073_741_820, pooled::MAX_SLOTS)
    );
    let narrow = NARROWEST_WINDOW_POOL.spec().settings().autoscale;
    assert_eq!(
        (narrow.window, narrow.interval),
        (1, Duration::from_nanos(1))
    );
    assert_eq!(WIDEST_WINDOW_POOL.spec().settings().autoscale.window, 4096);
    narrowest_window();
    widest_window();
    assert_eq!(NARROWEST_WINDOW_POOL.stats().completed, 1);
    assert_eq!(WIDEST_WINDOW_POOL.stats().completed, 1);
}

/// The running pool's bounds (it starts the pool).
fn near_the_ceiling_bounds() -> (usize, usize) {
    NEAR_THE_CEILING_POOL.pool().bounds()
}

#[cfg(feature = "redis")]
mod fleet_ends {
    use std::time::Duration;

    #[allow(dead_code)]
    #[pooled::pooled(
        fleet_limit = 1_073_741_823,
        fleet_url = "unix:///tmp/pooled-acceptance-round20.sock",
        fleet_lease = "100ms",
        fleet_unreachable = "local"
    )]
    fn shortest_lease() {}

    #[allow(dead_code)]
    #[pooled::pooled(fleet_limit = 2, fleet_url = "redis://127.0.0.1:1")]
    fn default_lease() {}

    #[allow(dead_code)]
    #[pooled::pooled(
        fleet_limit = 1,
        fleet_url = "redis://127.0.0.1:1",
        fleet_lease = "24h",
        fleet_unreachable = "reject"
    )]
    fn longest_lease() {}

    /// pool-macros/src/lib.rs:131-134: "`fleet_limit` | integer, 1 to
    /// `MAX_SLOTS`", "`fleet_url` | `\"redis://…\"` or `\"unix://…\"`",
    /// "`fleet_lease` | duration literal, 100 ms to 24 h | `\"10s\"`",
    /// "`fleet_unreachable` | ... | `\"wait\"`": the ends are accepted and
    /// reach the settings, as do the defaults (nothing is called: no server).
    #[test]
    fn the_fleet_keys_accept_the_ends_of_their_ranges_and_unix_urls() {
        let defaults = DEFAULT_LEASE_POOL.spec().settings().fleet;
        assert_eq!(defaults.lease, Duration::from_secs(10));
        assert!(matches!(
            defaults.unreachable,
            pooled::fleet::OnUnreachable::Wait
        ));
        let short = SHORTEST_LEASE_POOL.spec().settings().fleet;
        assert_eq!(short.limit, Some(pooled::MAX_SLOTS));
        assert_eq!(
            short.url,
            Some("unix:///tmp/pooled-acceptance-round20.sock")
        );
        assert_eq!(short.lease, Duration::from_millis(100));
        let long = LONGEST_LEASE_POOL.spec().settings().fleet;
        assert_eq!(long.limit, Some(1));
        assert_eq!(long.lease, Duration::from_secs(24 * 3600));
    }
}

// ---------------------------------------------------------------------------

#[pooled::group(order = "priority", size = 1)]
struct Desk;

/// The order the bodies of `Desk` ran in, by label.
static DESK_ORDER: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

struct Ticket {
    urgency: i64,
    label: &'static str,
}

/// A function of the priority group without a weight: weight 0.
#[pooled::pooled(group = Desk)]
async fn walk_in() -> &'static str {
    DESK_ORDER.lock().unwrap().push("walk-in 0");
    "walk-in 0"
}

impl Ticket {
    #[pooled::pooled(group = Desk, weight = self.urgency)]
    async fn handle(&self) -> &'static str {
        DESK_ORDER.lock().unwrap().push(self.label);
        self.label
    }

    #[pooled::pooled(group = Desk, weight = self.urgency * 10 + 3)]
    fn handle_sync(self) -> &'static str {
        DESK_ORDER.lock().unwrap().push(self.label);
        self.label
    }
}

/// pool-macros/src/lib.rs:248-249: "`weight = <expression>`: any `i64`
/// expression over the arguments, evaluated before the call waits" — the
/// receiver is an argument too: `weight = self.urgency` on a `&self` async
/// method and `weight = self.urgency * 10 + 3` on a by-value sync one order
/// the calls of a priority group (:241-242: "smaller first"), where a
/// function without a weight ranks at 0 (:137: "`weight` | ... | 0").
#[test]
fn a_weight_expression_over_the_receiver_orders_method_calls() {
    let rt = multi_thread();
    let holder = Desk::POOL.try_acquire(0).expect("a free slot");
    let mut queued = 0;
    let wait_queued = |queued: &mut usize| {
        *queued += 1;
        wait_until("a call queues", || Desk::POOL.stats().waiting == *queued);
    };
    let late = rt.spawn(async {
        Ticket {
            urgency: 50,
            label: "async 50",
        }
        .handle()
        .await
    });
    wait_queued(&mut queued);
    let sync = std::thread::spawn(|| {
        Ticket {
            urgency: 1,
            label: "sync 13",
        }
        .handle_sync()
    });
    wait_queued(&mut queued);
    let early = rt.spawn(async {
        Ticket {
            urgency: -4,
            label: "async -4",
        }
        .handle()
        .await
    });
    wait_queued(&mut queued);
    let walk_in = rt.spawn(walk_in());
    wait_queued(&mut queued);
    let middle = rt.spawn(async {
        Ticket {
            urgency: 20,
            label: "async 20",
        }
        .handle()
        .await
    });
    wait_queued(&mut queued);
    drop(holder);
    rt.block_on(async {
        for task in [late, early, walk_in, middle] {
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("hung")
                .unwrap();
        }
    });
    assert_eq!(within(DEADLINE, move || sync.join().unwrap()), "sync 13");
    assert_eq!(
        *DESK_ORDER.lock().unwrap(),
        ["async -4", "walk-in 0", "sync 13", "async 20", "async 50"]
    );
}

// ---------------------------------------------------------------------------

static STUBBORN: Meter = Meter::new();

#[pooled::pooled(size = 1, blocking, wait)]
fn stubborn(n: u32) -> std::io::Result<u32> {
    let _inside = STUBBORN.enter();
    Ok(n)
}

/// pool-macros/src/lib.rs:140: "`wait` | flag | off | never reject, even when
/// the function returns a `Result`", and the rejection table (:364): "returns
/// anything else, or has `wait` | waits until `resume()` | runs (a closed pool
/// still admits it, within its limit)" — for a `blocking` function returning
/// `io::Result`: it waits through a pause, and runs after a close.
#[test]
fn a_blocking_result_function_with_wait_waits_through_a_pause_and_runs_when_closed() {
    let rt = multi_thread();
    STUBBORN_POOL.pause();
    let paused = rt.spawn(stubborn(1));
    wait_until("the blocking call waits in the paused pool", || {
        STUBBORN_POOL.stats().waiting == 1 || paused.is_finished()
    });
    assert!(
        !paused.is_finished(),
        "the call returned while the pool was paused: {:?}",
        rt.block_on(paused)
            .map(|out| out.map_err(|e| e.to_string()))
    );
    assert_eq!(STUBBORN.done(), 0);
    STUBBORN_POOL.resume();
    let out = rt.block_on(async { tokio::time::timeout(DEADLINE, paused).await });
    assert_eq!(out.expect("hung").unwrap().unwrap(), 1);

    STUBBORN_POOL.pool().close();
    let out = rt.block_on(async { tokio::time::timeout(DEADLINE, stubborn(2)).await });
    assert_eq!(
        out.expect("hung")
            .expect("a closed pool turned a `wait` call away"),
        2
    );
    assert_eq!(STUBBORN.done(), 2);
    assert_eq!(STUBBORN.peak(), 1);
}
