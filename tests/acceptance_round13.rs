//! Acceptance tests of the attribute, round 13: `#[pooled]` functions, methods
//! and declared groups tuned from the environment (`POOLED_<GROUP>_<SETTING>`,
//! the README's mangling), explicitly (`config::load_env_from`) and as read at
//! a process's first group use (`POOLED_CONFIG` and the variables, in a child
//! process); limits counted from outside the library.
#![cfg(feature = "config")]

mod common;
use common::{multi_thread, vars, Meter};
use pooled::{config, Kind, Rejected};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Configuration is process-wide: the tests here take turns with it.
fn config_turn() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    config::clear();
    guard
}

/// A bounded await: a hang is a failure.
async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("never happened: {what}");
}

// ---- an async fn's size from the environment --------------------------------------

static ENV_METER: Meter = Meter::new();

#[pooled::pooled(size = 1)]
async fn env_sized(barrier: std::sync::Arc<tokio::sync::Barrier>) -> u32 {
    let _in = ENV_METER.enter();
    barrier.wait().await;
    7
}

/// README: "single values from the environment:
/// `POOLED_BILLING__API__CHARGE_MAX=48` (upper-case, `::` becomes `__`,
/// other characters `_`)"; precedence "attribute < ... < environment". An
/// async fn declared with one slot, given three by its variable: three
/// calls meet at a barrier of three (impossible with one slot), and no
/// more than three ever run at once.
#[test]
fn an_async_fns_size_comes_from_its_environment_variable() {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_ACCEPTANCE_ROUND13__ENV_SIZED_SIZE", "3")]))
        .expect("the variable names the fn's group");
    assert_eq!(ENV_SIZED_POOL.size(), 3);
    multi_thread().block_on(async {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
        let calls: Vec<_> = (0..9)
            .map(|_| tokio::spawn(env_sized(barrier.clone())))
            .collect();
        for call in calls {
            assert_eq!(bounded("three meet at the barrier", call).await.unwrap(), 7);
        }
    });
    assert_eq!(ENV_METER.peak(), 3, "three at once, never more");
    config::clear();
    assert_eq!(
        ENV_SIZED_POOL.size(),
        1,
        "clearing brings the attribute back"
    );
}

// ---- a renamed group and a method --------------------------------------------------

#[pooled::pooled(name = "billing-api.v2", size = 1)]
fn renamed_sync(hold: bool) -> Result<u8, Rejected> {
    if hold {
        RENAMED_GATE.wait();
    }
    Ok(2)
}

/// A gate a sync body waits at until opened.
struct SyncGate(Mutex<bool>, std::sync::Condvar);
impl SyncGate {
    fn wait(&self) {
        let mut open = self.0.lock().unwrap();
        while !*open {
            open = self.1.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
}
static RENAMED_GATE: SyncGate = SyncGate(Mutex::new(false), std::sync::Condvar::new());

/// `name = ".."` names the group in configuration; the environment mangles
/// it ("other characters `_`"): `billing-api.v2` is `BILLING_API_V2`. Its
/// `max_waiting = 0` from the environment turns away a call that would wait.
#[test]
fn a_renamed_fns_group_is_tuned_by_its_mangled_variable() {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_BILLING_API_V2_MAX_WAITING", "0")])).unwrap();
    assert_eq!(RENAMED_SYNC_POOL.name(), "billing-api.v2");
    let holder = std::thread::spawn(|| renamed_sync(true));
    wait_until("the holder runs", || RENAMED_SYNC_POOL.stats().running == 1);
    assert_eq!(renamed_sync(false), Err(Rejected::Full));
    RENAMED_GATE.open();
    assert_eq!(holder.join().unwrap(), Ok(2));
    assert_eq!(renamed_sync(false), Ok(2));
    let s = RENAMED_SYNC_POOL.stats();
    assert_eq!(s.rejected_for(Rejected::Full), 1, "{s:?}");
    config::clear();
}

struct Client;

static METHOD_METER: Meter = Meter::new();

impl Client {
    #[pooled::pooled(size = 4)]
    async fn fetch_env(&self, barrier: std::sync::Arc<tokio::sync::Barrier>) -> u8 {
        let _in = METHOD_METER.enter();
        let _ = bounded("the barrier", barrier.wait()).await;
        1
    }
}

/// A method's group is named `module::method` ("a method's name does not
/// include its type"), so its variable has no type in it either. Lowered
/// to 2 from the environment: two calls meet at a barrier of two, and no
/// more than two run at once.
#[test]
fn a_methods_group_is_tuned_by_a_variable_without_its_type() {
    let _turn = config_turn();
    config::load_env_from(vars(&[("POOLED_ACCEPTANCE_ROUND13__FETCH_ENV_SIZE", "2")])).unwrap();
    assert_eq!(Client::FETCH_ENV_POOL.size(), 2);
    multi_thread().block_on(async {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let b = barrier.clone();
                tokio::spawn(async move { Client.fetch_env(b).await })
            })
            .collect();
        for call in calls {
            assert_eq!(bounded("a call", call).await.unwrap(), 1);
        }
    });
    assert_eq!(METHOD_METER.peak(), 2);
    config::clear();
}

// ---- a declared group's order and kind from the environment, before it starts -------

#[pooled::group(size = 1)]
struct EnvOrdered;

static ORDER_SEEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[pooled::pooled(group = EnvOrdered)]
async fn ordered_call(n: u32, hold: std::sync::Arc<tokio::sync::Notify>) {
    ORDER_SEEN.lock().unwrap().push(n);
    if n == 0 {
        hold.notified().await;
    }
}

/// README: "Reload ... returns a report of what changed and when it takes
/// effect (kind, order, ... at the group's next start)". A group not yet
/// started has its first start ahead: a variable making the declared FIFO
/// group LIFO before its first call is the order it starts with.
#[test]
fn a_declared_groups_order_from_the_environment_applies_at_its_first_start() {
    let _turn = config_turn();
    assert!(!EnvOrdered::POOL.is_started());
    config::load_env_from(vars(&[(
        "POOLED_ACCEPTANCE_ROUND13__ENVORDERED_ORDER",
        "lifo",
    )]))
    .unwrap();
    multi_thread().block_on(async {
        let hold = std::sync::Arc::new(tokio::sync::Notify::new());
        let first = tokio::spawn(ordered_call(0, hold.clone()));
        while EnvOrdered::POOL.stats().running == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(EnvOrdered::POOL.pool().order(), pooled::Order::Lifo);
        let mut queued = Vec::new();
        for n in 1..=3 {
            queued.push(tokio::spawn(ordered_call(n, hold.clone())));
            let want = n as usize;
            bounded("the call queues", async {
                while EnvOrdered::POOL.stats().waiting < want {
                    tokio::task::yield_now().await;
                }
            })
            .await;
        }
        hold.notify_one();
        bounded("the holder", first).await.unwrap();
        for q in queued {
            bounded("a queued call", q).await.unwrap();
        }
    });
    assert_eq!(*ORDER_SEEN.lock().unwrap(), [0, 3, 2, 1], "LIFO");
    config::clear();
}

#[pooled::pooled(size = 2)]
fn env_autoscaled() -> u8 {
    4
}

/// README: "Counts belong to a kind"; environment variables set `kind`,
/// `min` and `max` like a file table: a fixed fn made autoscaled by its
/// variables before its first call starts as an autoscaled pool within the
/// variables' bounds.
#[test]
fn a_fixed_fn_made_autoscaled_by_its_variables_starts_within_their_bounds() {
    let _turn = config_turn();
    assert!(!ENV_AUTOSCALED_POOL.is_started());
    config::load_env_from(vars(&[
        (
            "POOLED_ACCEPTANCE_ROUND13__ENV_AUTOSCALED_KIND",
            "autoscale",
        ),
        ("POOLED_ACCEPTANCE_ROUND13__ENV_AUTOSCALED_MIN", "1"),
        ("POOLED_ACCEPTANCE_ROUND13__ENV_AUTOSCALED_MAX", "5"),
    ]))
    .unwrap();
    let s = ENV_AUTOSCALED_POOL.settings();
    assert_eq!((s.kind, s.min, s.max), (Kind::Autoscale, Some(1), Some(5)));
    assert_eq!(env_autoscaled(), 4);
    let pool = ENV_AUTOSCALED_POOL.pool();
    assert_eq!(pool.kind(), Kind::Autoscale);
    assert_eq!(pool.bounds(), (1, 5));
    assert!((1..=5).contains(&pool.size()), "{}", pool.size());
    assert_eq!(ENV_AUTOSCALED_POOL.scale(100), 5, "scale clamps to the max");
    config::clear();
}

// ---- the environment and POOLED_CONFIG, read at a process's first use --------------

static FIRST_USE_METER: Meter = Meter::new();

#[pooled::pooled(size = 1)]
fn first_use(hold: bool) -> Result<u8, Rejected> {
    let _in = FIRST_USE_METER.enter();
    if hold {
        FIRST_USE_GATE.wait();
    }
    Ok(1)
}
static FIRST_USE_GATE: SyncGate = SyncGate(Mutex::new(false), std::sync::Condvar::new());

/// README: "`pooled::config::load(path)` (or `POOLED_CONFIG=path`, read at
/// first use); single values from the environment"; precedence "file group
/// table < environment". A child process whose first group call is the
/// attribute fn's: the file's waiting bound and the variable's size (over
/// the file's) are both in force, and the limit holds from outside.
#[test]
fn the_file_and_the_variables_are_read_at_the_first_use_environment_over_file() {
    let name = "the_file_and_the_variables_are_read_at_the_first_use_environment_over_file";
    let path =
        std::env::temp_dir().join(format!("pooled-acceptance13-{}.toml", std::process::id()));
    let is_child = common::is_child_process();
    if !is_child {
        std::fs::write(
            &path,
            "[groups.\"acceptance_round13::first_use\"]\nsize = 5\nmax_waiting = 0\n",
        )
        .unwrap();
    }
    let path_text = path.display().to_string();
    let env = [
        ("POOLED_CONFIG", path_text.as_str()),
        ("POOLED_ACCEPTANCE_ROUND13__FIRST_USE_SIZE", "2"),
    ];
    common::in_child_process(name, &env, || {
        let holders: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(|| first_use(true)))
            .collect();
        wait_until("two hold the two slots", || {
            FIRST_USE_POOL.stats().running == 2
        });
        assert_eq!(FIRST_USE_POOL.size(), 2, "the variable beats the file");
        assert_eq!(
            first_use(false),
            Err(Rejected::Full),
            "the file's max_waiting = 0"
        );
        FIRST_USE_GATE.open();
        for h in holders {
            assert_eq!(h.join().unwrap(), Ok(1));
        }
        assert_eq!(FIRST_USE_METER.peak(), 2);
    });
    if !is_child {
        std::fs::remove_file(&path).ok();
    }
}

#[pooled::pooled(size = 2)]
fn badly_configured() -> Result<u8, Rejected> {
    Ok(3)
}

/// config docs: "At a group's first use, where no caller can receive an
/// error, a failing environment is applied not at all and the error is
/// logged" (on stderr without a logger), naming the variable. In a child
/// process, one good and one bad variable: the group starts with its
/// declared settings (the good one is not applied either), and stderr names
/// the bad variable.
#[test]
fn a_bad_variable_at_first_use_applies_nothing_and_is_reported_on_stderr() {
    let name = "a_bad_variable_at_first_use_applies_nothing_and_is_reported_on_stderr";
    let env = [
        (
            "POOLED_ACCEPTANCE_ROUND13__BADLY_CONFIGURED_MAX_WAITING",
            "0",
        ),
        ("POOLED_ACCEPTANCE_ROUND13__BADLY_CONFIGURED_SIZE", "many"),
    ];
    let stderr = common::in_child_process(name, &env, || {
        assert_eq!(badly_configured(), Ok(3));
        assert_eq!(BADLY_CONFIGURED_POOL.size(), 2, "the declared size");
        assert_eq!(
            BADLY_CONFIGURED_POOL.pool().max_waiting(),
            None,
            "all or nothing: the good variable is not applied either"
        );
    });
    if let Some(stderr) = stderr {
        assert!(
            stderr.contains("POOLED_ACCEPTANCE_ROUND13__BADLY_CONFIGURED_SIZE"),
            "{stderr}"
        );
    }
}
