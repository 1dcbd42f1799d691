//! Fleet limits against a real `redis-server` (started per test on a free
//! port) and real OS processes: this test binary runs itself again as
//! workers (`worker`, selected by `FLEET_WORKER`), each a process with its
//! own group of the same name. Concurrency is counted from outside the
//! library: every call's work `INCR`s a counter in Redis when it starts and
//! `DECR`s it when it ends (or is dropped), and a small script keeps the
//! highest value seen.
#![cfg(feature = "redis")]

mod redis_server;

use pool_runtime::fleet::{Fleet, OnUnreachable};
use pool_runtime::{Group, GroupSpec, Rejected};
use redis_server::*;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

// ---- the worker process ---------------------------------------------------

/// Parameters of a worker, passed in its environment.
struct Job<'a> {
    group: &'a str,
    local: usize,
    fleet: usize,
    lease_ms: u64,
    calls: usize,
    work_ms: u64,
}

/// How a worker runs its calls: `FLEET_PATH`, one of the group's call paths
/// (see `run_path`); `submit` if unset.
fn spawn_worker_on(server: &RedisServer, job: &Job<'_>, path: &str) -> Child {
    let mut command = worker_command(server, job);
    command.env("FLEET_PATH", path);
    command
        .spawn()
        .expect("the test binary runs again as a worker")
}

fn spawn_worker(server: &RedisServer, job: &Job<'_>) -> Child {
    worker_command(server, job)
        .spawn()
        .expect("the test binary runs again as a worker")
}

fn worker_command(server: &RedisServer, job: &Job<'_>) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["worker", "--exact", "--nocapture", "--test-threads=1"])
        .env("FLEET_WORKER", "1")
        .env("FLEET_URL", server.url())
        .env("FLEET_GROUP", job.group)
        .env("FLEET_LOCAL", job.local.to_string())
        .env("FLEET_LIMIT", job.fleet.to_string())
        .env("FLEET_LEASE_MS", job.lease_ms.to_string())
        .env("FLEET_CALLS", job.calls.to_string())
        .env("FLEET_WORK_MS", job.work_ms.to_string());
    command
}

/// A worker process: `FLEET_CALLS` calls of `FLEET_WORK_MS` each, all
/// submitted at once to a group with a local and a fleet limit; each call's
/// outcome is counted in Redis (`<group>:ok`, `:lost`, `:rejected`).
#[test]
fn worker() {
    if std::env::var_os("FLEET_WORKER").is_none() {
        return;
    }
    let url = leak(worker_env("FLEET_URL"));
    let group = leak(worker_env("FLEET_GROUP"));
    let spec = GroupSpec::new(group)
        .size(worker_env("FLEET_LOCAL").parse().unwrap())
        .fleet_limit(worker_env("FLEET_LIMIT").parse().unwrap())
        .fleet_url(url)
        .fleet_lease(Duration::from_millis(
            worker_env("FLEET_LEASE_MS").parse().unwrap(),
        ));
    let group: &'static Group = Box::leak(Box::new(Group::new(spec)));
    let calls: usize = worker_env("FLEET_CALLS").parse().unwrap();
    let work = Duration::from_millis(worker_env("FLEET_WORK_MS").parse().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let path = std::env::var("FLEET_PATH").unwrap_or_else(|_| "submit".to_owned());
    runtime.block_on(async {
        let outcomes = run_path(&path, group, url, calls, work).await;
        let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
        for outcome in outcomes {
            let outcome = match outcome {
                Ok(()) => "ok",
                Err(Rejected::LeaseLost) => "lost",
                Err(_) => "rejected",
            };
            let _: i64 = redis::cmd("INCR")
                .arg(format!("{}:{outcome}", group.name()))
                .query(&mut connection)
                .unwrap();
        }
        // Releases of dropped permits go out in the background: the worker
        // waits for them before it exits (as a process should: `flush`).
        let fleet = group.fleet().expect("a fleet group");
        tokio::time::timeout(Duration::from_secs(10), fleet.flush())
            .await
            .expect("every release answered");
        let stats = group.fleet_stats().unwrap();
        let _: i64 = redis::cmd("INCRBY")
            .arg(format!("{}:stats_lost", group.name()))
            .arg(stats.lost)
            .query(&mut connection)
            .unwrap();
    });
}

/// Runs `calls` calls of `work` each through one of `group`'s call paths,
/// all at once; each call's work is counted from outside ([`Running`]).
async fn run_path(
    path: &str,
    group: &'static Group,
    url: &'static str,
    calls: usize,
    work: Duration,
) -> Vec<Result<(), Rejected>> {
    let name = group.name();
    let counted = move || async move {
        let _running = Running::enter(url, name);
        tokio::time::sleep(work).await;
    };
    let blocking = move || {
        let _running = Running::enter(url, name);
        std::thread::sleep(work);
    };
    #[cfg(feature = "stream")]
    if path == "stream" {
        use futures::StreamExt;
        use pool_runtime::PooledStreamExt;
        return futures::stream::iter(0..calls)
            .map(|_| counted())
            .pooled_unordered(group)
            .collect()
            .await;
    }
    let tasks: Vec<tokio::task::JoinHandle<Result<(), Rejected>>> = (0..calls)
        .map(|_| match path {
            "submit" => tokio::spawn(group.submit(0, counted())),
            "judged" => {
                tokio::spawn(group.submit_judged(0, counted(), |_| pool_runtime::Verdict::Success))
            }
            "acquire" => tokio::spawn(async move {
                let permit = group.acquire(0).await?;
                assert!(permit.lease().unwrap().token().is_some());
                counted().await;
                drop(permit);
                Ok(())
            }),
            "acquire_owned" => tokio::spawn(async move {
                let permit = group.acquire_owned(0).await?;
                counted().await;
                drop(permit);
                Ok(())
            }),
            "try_acquire" | "try_acquire_owned" => {
                let owned = path == "try_acquire_owned";
                tokio::spawn(async move {
                    loop {
                        // Never waits: retried while no lease (or slot) is free.
                        let taken: Result<Box<dyn std::any::Any + Send>, Rejected> = if owned {
                            group
                                .try_acquire_owned(0)
                                .map(|permit| Box::new(permit) as _)
                        } else {
                            group.try_acquire(0).map(|permit| Box::new(permit) as _)
                        };
                        match taken {
                            Ok(permit) => {
                                counted().await;
                                drop(permit);
                                return Ok(());
                            }
                            Err(Rejected::Full) => {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Err(other) => return Err(other),
                        }
                    }
                })
            }
            "blocking" => tokio::spawn(group.submit_blocking(0, blocking)),
            "blocking_wait" => tokio::spawn(async move {
                group.submit_blocking_wait(0, blocking).await;
                Ok(())
            }),
            #[cfg(feature = "tower")]
            "tower" | "tower_reject" => {
                use tower::{Layer, ServiceExt};
                let layer = pool_runtime::tower::PooledLayer::group(group);
                let layer = if path == "tower_reject" {
                    layer.reject()
                } else {
                    layer
                };
                let service = layer.layer(tower::service_fn(move |()| async move {
                    counted().await;
                    Ok::<_, pool_runtime::tower::BoxError>(())
                }));
                tokio::spawn(async move {
                    loop {
                        let call: std::pin::Pin<
                            Box<
                                dyn std::future::Future<
                                        Output = Result<(), pool_runtime::tower::BoxError>,
                                    > + Send,
                            >,
                        > = Box::pin(service.clone().oneshot(()));
                        match call.await {
                            Ok(()) => return Ok(()),
                            Err(error) => match error.downcast::<Rejected>() {
                                Ok(rejected) if *rejected == Rejected::Full => {
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                }
                                Ok(rejected) => return Err(*rejected),
                                Err(error) => panic!("the service failed: {error}"),
                            },
                        }
                    }
                })
            }
            other => panic!("unknown call path {other}"),
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

// ---- helpers of the tests ---------------------------------------------------

fn finish(mut child: Child, timeout: Duration) {
    let ended = wait_until(timeout, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
        panic!("a worker did not finish within {timeout:?}");
    }
    assert!(child.wait().unwrap().success(), "a worker failed");
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

// ---- the tests ------------------------------------------------------------

/// Three processes with a local limit of 3 each (9 in all) share a fleet
/// limit of 4: counted from outside, never more than 4 calls run at once,
/// and 4 do (the limit is used); every call completes, and nothing is left
/// in Redis.
#[test]
fn fleet_running_never_exceeds_the_fleet_limit_across_processes() {
    let server = RedisServer::start();
    let job = Job {
        group: "across",
        local: 3,
        fleet: 4,
        lease_ms: 2000,
        calls: 12,
        work_ms: 60,
    };
    let workers: Vec<_> = (0..3).map(|_| spawn_worker(&server, &job)).collect();
    for worker in workers {
        finish(worker, Duration::from_secs(20));
    }
    assert_eq!(get(&server, "across:ok"), 36, "every call ran");
    assert_eq!(
        get(&server, "across:max"),
        4,
        "the fleet limit, and no more"
    );
    assert_eq!(get(&server, "across:running"), 0);
    assert_no_fleet_keys(&server, "across");
}

/// A holder killed with `kill -9` renews no more: its leases expire and a
/// waiter of another process runs within lease + 1 s of the kill.
#[test]
fn kill_9_of_a_holder_frees_its_leases_within_lease_plus_one_second() {
    let server = RedisServer::start();
    let lease = Duration::from_millis(1000);
    let hog = Job {
        group: "killed",
        local: 2,
        fleet: 2,
        lease_ms: lease.as_millis() as u64,
        calls: 2,
        work_ms: 60_000,
    };
    let mut hog = spawn_worker(&server, &hog);
    assert!(wait_until(Duration::from_secs(10), || get(
        &server,
        "killed:running"
    ) == 2));
    let waiter = spawn_worker(
        &server,
        &Job {
            calls: 1,
            work_ms: 10,
            ..Job { ..hog_job() }
        },
    );
    // The waiter is queued in Redis before the holder dies.
    assert!(wait_until(Duration::from_secs(10), || {
        !server.keys("{pooled:killed}:queue").is_empty()
    }));
    signal(&hog, "-KILL");
    let killed = Instant::now();
    let _ = hog.wait();
    assert!(
        wait_until(Duration::from_secs(10), || get(&server, "killed:started")
            == 3),
        "the waiter never ran"
    );
    let waited = killed.elapsed();
    assert!(
        waited <= lease + Duration::from_secs(1),
        "waiter ran {waited:?} after the kill"
    );
    finish(waiter, Duration::from_secs(10));
    assert_eq!(get(&server, "killed:ok"), 1);
    assert_no_fleet_keys(&server, "killed");

    fn hog_job() -> Job<'static> {
        Job {
            group: "killed",
            local: 2,
            fleet: 2,
            lease_ms: 1000,
            calls: 1,
            work_ms: 10,
        }
    }
}

/// A holder stopped (`SIGSTOP`) past its lease loses it: another process
/// gets the slot; when the holder resumes (`SIGCONT`), its renewal finds the
/// lease gone, its call ends with `LeaseLost`, and no renewal puts its lease
/// back. The over-admission this allows is measured from outside: one call
/// (the stopped holder's, counted as running while it was stopped).
#[test]
fn sigstop_past_the_lease_loses_it_for_good() {
    let server = RedisServer::start();
    let job = Job {
        group: "stopped",
        local: 1,
        fleet: 1,
        lease_ms: 1000,
        calls: 1,
        work_ms: 4000,
    };
    let holder = spawn_worker(&server, &job);
    assert!(wait_until(Duration::from_secs(10), || get(
        &server,
        "stopped:started"
    ) == 1));
    signal(&holder, "-STOP");
    let other = spawn_worker(
        &server,
        &Job {
            work_ms: 1500,
            ..job
        },
    );
    // The other process gets the slot once the stopped holder's lease expires.
    assert!(
        wait_until(Duration::from_secs(5), || get(&server, "stopped:started")
            == 2),
        "the lease of the stopped holder was never reclaimed"
    );
    signal(&holder, "-CONT");
    finish(holder, Duration::from_secs(10));
    // The resumed holder learnt it lost its lease, and did not get it back:
    // the only lease in Redis is the other process's.
    assert_eq!(
        get(&server, "stopped:lost"),
        1,
        "the holder's call ended with LeaseLost"
    );
    assert_eq!(
        get(&server, "stopped:stats_lost"),
        1,
        "and the loss was counted"
    );
    let mut connection = server.connection().unwrap();
    let holders: i64 = redis::cmd("ZCARD")
        .arg("{pooled:stopped}:holders")
        .query(&mut connection)
        .unwrap();
    assert_eq!(holders, 1, "only the other process holds a lease");
    finish(other, Duration::from_secs(10));
    assert_eq!(get(&server, "stopped:ok"), 1);
    // Measured over-admission: the stopped holder's call and the other's.
    let max = get(&server, "stopped:max");
    println!(
        "over-admission under SIGSTOP past the lease: {} call(s)",
        max - 1
    );
    assert_eq!(
        max, 2,
        "one call over the fleet limit while the holder was stopped"
    );
    assert_no_fleet_keys(&server, "stopped");
}

/// Redis unreachable for a while: `reject` turns calls away at once with
/// `FleetUnavailable`, `local` runs them under the local limit, `wait` waits
/// until Redis is back and then runs them; none hangs, and nothing is left
/// in Redis afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_unreachable_policy_does_what_it_says() {
    let mut server = RedisServer::start();
    let reject = fleet_group("away_reject", &server, 2, OnUnreachable::Reject);
    let local = fleet_group("away_local", &server, 2, OnUnreachable::Local);
    let wait = fleet_group("away_wait", &server, 2, OnUnreachable::Wait);
    // Each works while Redis is there.
    for group in [reject, local, wait] {
        assert_eq!(group.submit(0, async { 1 }).await, Ok(1));
    }
    server.stop();
    let started = Instant::now();
    assert_eq!(
        reject.submit(0, async { 1 }).await,
        Err(Rejected::FleetUnavailable)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "reject answered at once"
    );
    assert_eq!(reject.fleet_stats().unwrap().rejected_unavailable, 1);
    assert_eq!(local.submit(0, async { 2 }).await, Ok(2));
    assert_eq!(local.fleet_stats().unwrap().local_fallbacks, 1);
    let waiting = tokio::spawn(wait.submit(0, async { pool_runtime::fleet::token() }));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!waiting.is_finished(), "wait waits while Redis is away");
    assert_eq!(wait.fleet_stats().unwrap().waiting, 1);
    server.restart();
    let token = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting call ran once Redis was back")
        .unwrap();
    assert!(matches!(token, Ok(Some(_))), "it ran under a lease");
    assert!(wait.fleet_stats().unwrap().redis_errors > 0);
    // And after Redis returns, all three work and leak nothing.
    for group in [reject, local, wait] {
        assert_eq!(group.submit(0, async { 3 }).await, Ok(3));
        assert_eq!(group.run(|| 4), Ok(4), "sync calls hold leases too");
        assert_no_fleet_keys(&server, group.name());
    }
}

/// Redis restarted mid-run (its data and script cache gone): calls holding
/// leases learn they lost them, the scripts are loaded again (`NOSCRIPT`),
/// later calls run under fresh leases, no call hangs, and nothing leaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_run_loses_held_leases_and_nothing_else() {
    let mut server = RedisServer::start();
    let group = fleet_group("restarted", &server, 2, OnUnreachable::Wait);
    let calls: Vec<_> = (0..6)
        .map(|_| tokio::spawn(group.submit(0, tokio::time::sleep(Duration::from_millis(800)))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    let mut lost = 0;
    for call in calls {
        match tokio::time::timeout(Duration::from_secs(10), call).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(Rejected::LeaseLost))) => lost += 1,
            other => panic!("a call neither ran nor lost its lease: {other:?}"),
        }
    }
    let stats = group.fleet_stats().unwrap();
    assert_eq!(stats.lost, lost, "each lost lease is counted");
    assert!(
        lost >= 1,
        "the two holders at the restart lost their leases"
    );
    assert_eq!(stats.held, 0);
    assert_eq!(
        group.submit(0, async { 5 }).await,
        Ok(5),
        "scripts reloaded after NOSCRIPT"
    );
    assert_no_fleet_keys(&server, "restarted");
}

/// Releases racing renewals (a 300 ms lease renewed every 100 ms, released
/// at random points): no release is mistaken for a loss, no renewal puts a
/// released lease back, and nothing is left in Redis. (A lease whose
/// renewal is starved past its whole term is really lost: the term leaves a
/// loaded 2-core machine 200 ms of slack; at 100 ms, CI saw 11 such losses.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_racing_a_renewal_is_not_a_loss_and_resurrects_nothing() {
    let server = RedisServer::start();
    let settings = pool_runtime::GroupSettings::DEFAULT
        .fleet_limit(8)
        .fleet_url(leak(server.url()))
        .fleet_lease(Duration::from_millis(300))
        .fleet;
    let fleet = Fleet::connect("racing", &settings).unwrap();
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let fleet = fleet.clone();
            tokio::spawn(async move {
                for round in 0..25u64 {
                    let lease = fleet.acquire().await.unwrap();
                    // Hold across 0..2 renewals, ending near one.
                    let held = (task * 7 + round * 13) % 210;
                    tokio::time::sleep(Duration::from_millis(held)).await;
                    drop(lease);
                }
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .unwrap()
            .unwrap();
    }
    let stats = fleet.stats();
    assert_eq!((stats.acquired, stats.released), (200, 200));
    assert_eq!(stats.lost, 0, "a release racing a renewal is not a loss");
    assert_no_fleet_keys(&server, "racing");
}

/// Leases let go by drops are released in the background: `flush` returns
/// once Redis has answered every one, so nothing is left in Redis at that
/// moment (no waiting for it), and it returns at once with nothing begun.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_the_releases_of_dropped_leases() {
    let server = RedisServer::start();
    let settings = pool_runtime::GroupSettings::DEFAULT
        .fleet_limit(8)
        .fleet_url(leak(server.url()))
        .fleet;
    let fleet = Fleet::connect("flushed", &settings).unwrap();
    tokio::time::timeout(Duration::from_secs(1), fleet.flush())
        .await
        .expect("nothing to wait for");
    for _ in 0..20 {
        let leases: Vec<_> = futures::future::join_all((0..8).map(|_| fleet.acquire()))
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        drop(leases);
        tokio::time::timeout(Duration::from_secs(10), fleet.flush())
            .await
            .expect("every release answered");
        let left = server.keys("{pooled:flushed}*");
        assert!(left.is_empty(), "keys left after flush: {left:?}");
    }
    assert_eq!(fleet.stats().released, 160);
}

/// 100 000 acquire/release cycles (32 at a time): the fencing tokens grow,
/// and nothing is left in Redis afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_cycles_leave_no_keys_behind() {
    let server = RedisServer::start();
    let settings = pool_runtime::GroupSettings::DEFAULT
        .fleet_limit(64)
        .fleet_url(leak(server.url()))
        .fleet;
    let fleet = Fleet::connect("cycles", &settings).unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let fleet = fleet.clone();
            tokio::spawn(async move {
                let mut last = 0;
                for _ in 0..100_000 / 32 + 1 {
                    let lease = fleet.acquire().await.unwrap();
                    let token = lease.token().unwrap();
                    assert!(token > last, "fencing tokens grow");
                    last = token;
                }
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .unwrap()
            .unwrap();
    }
    assert!(fleet.stats().acquired >= 100_000);
    assert_no_fleet_keys(&server, "cycles");
}

// ---- every call path holds a lease ------------------------------------------

/// Three processes, each with a local limit of 3 (9 in all), run 8 calls
/// each through `path` under a fleet limit of 4: counted from outside,
/// never more than 4 run at once, and more than one does; every call ran,
/// and nothing is left in Redis.
fn path_holds_the_fleet_limit(path: &str) {
    let server = RedisServer::start();
    let group = leak(format!("path_{path}"));
    let job = Job {
        group,
        local: 3,
        fleet: 4,
        lease_ms: 2000,
        calls: 8,
        work_ms: 80,
    };
    let workers: Vec<_> = (0..3)
        .map(|_| spawn_worker_on(&server, &job, path))
        .collect();
    for worker in workers {
        finish(worker, Duration::from_secs(30));
    }
    assert_eq!(get(&server, &format!("{group}:ok")), 24, "every call ran");
    let max = get(&server, &format!("{group}:max"));
    assert!(
        (2..=4).contains(&max),
        "{path}: {max} calls ran at once across the fleet (limit 4, local limits 9 in all)"
    );
    assert_eq!(get(&server, &format!("{group}:running")), 0);
    assert_no_fleet_keys(&server, group);
}

#[test]
fn permits_hold_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("acquire");
}

#[test]
fn owned_permits_hold_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("acquire_owned");
}

#[test]
fn try_acquire_holds_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("try_acquire");
}

#[test]
fn try_acquire_owned_holds_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("try_acquire_owned");
}

#[test]
fn blocking_calls_hold_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("blocking");
}

#[test]
fn never_rejecting_blocking_calls_hold_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("blocking_wait");
}

#[test]
fn judged_calls_hold_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("judged");
}

#[cfg(feature = "stream")]
#[test]
fn streams_over_a_group_hold_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("stream");
}

#[cfg(feature = "tower")]
#[test]
fn the_tower_layer_over_a_group_holds_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("tower");
}

#[cfg(feature = "tower")]
#[test]
fn the_shedding_tower_layer_over_a_group_holds_the_fleet_limit_across_processes() {
    path_holds_the_fleet_limit("tower_reject");
}

/// An independent client of `group`'s fleet (its own connection and
/// leases, as another process would have).
fn other_client(group: &Group) -> Fleet {
    Fleet::connect(group.name(), &group.settings().fleet).unwrap()
}

/// A blocking call's lease moves with its closure: dropping the caller's
/// future while the closure runs does not release it; it is released when
/// the closure ends. Another client of the fleet (limit 1) gets the lease
/// only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_call_holds_its_lease_until_its_closure_ends_even_if_dropped() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let server = RedisServer::start();
    let group = fleet_group("blocking_dropped", &server, 1, OnUnreachable::Wait);
    let other = other_client(group);
    let (started, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let call = tokio::spawn(group.submit_blocking(0, {
        let (started, done) = (started.clone(), done.clone());
        move || {
            started.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(700));
            done.store(true, Ordering::SeqCst);
        }
    }));
    while !started.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    let lease = tokio::time::timeout(Duration::from_secs(5), other.acquire())
        .await
        .expect("the lease is released when the closure ends")
        .unwrap();
    assert!(
        done.load(Ordering::SeqCst),
        "the other client got the lease while the dropped call's closure still ran"
    );
    lease.release().await;
    let stats = group.fleet_stats().unwrap();
    assert_eq!((stats.acquired, stats.released, stats.held), (1, 1, 0));
    assert_no_fleet_keys(&server, "blocking_dropped");
}

/// `try_acquire` never waits for a lease: with the only lease held by
/// another client it is turned away with `Full` at once (its local slot
/// given back, the refusal counted in `busy`); once the lease is free it
/// gets one. With Redis away, `wait` and `reject` turn it away with
/// `FleetUnavailable`, `local` gives a permit under the local limit alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_acquire_never_waits_for_a_lease() {
    let mut server = RedisServer::start();
    let group = fleet_group("try_busy", &server, 1, OnUnreachable::Wait);
    let local = fleet_group("try_local", &server, 1, OnUnreachable::Local);
    let other = other_client(group);
    let held = other.acquire().await.unwrap();
    let started = Instant::now();
    assert_eq!(group.try_acquire_owned(0).err(), Some(Rejected::Full));
    assert_eq!(group.try_acquire(0).err(), Some(Rejected::Full));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "it did not wait"
    );
    assert_eq!(group.fleet_stats().unwrap().busy, 2);
    assert_eq!(group.stats().running, 0, "the local slot was given back");
    held.release().await;
    let permit = group.try_acquire_owned(0).unwrap();
    assert!(permit.lease().unwrap().token().is_some());
    assert_eq!(group.fleet_stats().unwrap().held, 1);
    drop(permit);
    assert_no_fleet_keys(&server, "try_busy");
    server.stop();
    assert_eq!(
        group.try_acquire_owned(0).err(),
        Some(Rejected::FleetUnavailable)
    );
    let permit = local.try_acquire_owned(0).unwrap();
    assert_eq!(
        permit.lease().unwrap().token(),
        None,
        "under the local limit"
    );
    assert_eq!(local.fleet_stats().unwrap().local_fallbacks, 1);
}

/// A permit waiting for its lease gives back its local slot and leaves the
/// fleet's queue when dropped; a permit dropped while its task panics
/// releases its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permit_releases_its_lease_on_cancellation_and_panic() {
    let server = RedisServer::start();
    let group = fleet_group("permit_paths", &server, 1, OnUnreachable::Wait);
    let other = other_client(group);
    let held = other.acquire().await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), group.acquire_owned(0)).await;
    assert!(waited.is_err(), "the permit waits for the lease");
    assert_eq!(group.stats().running, 0, "its local slot was given back");
    assert!(wait_until(Duration::from_secs(2), || {
        group.fleet_stats().unwrap().waiting == 0
    }));
    held.release().await;
    let panicked = tokio::spawn(async move {
        let _permit = group.acquire_owned(0).await.unwrap();
        panic!("the permit's holder panics");
    })
    .await;
    assert!(panicked.unwrap_err().is_panic());
    let lease = tokio::time::timeout(Duration::from_secs(2), other.acquire())
        .await
        .expect("the panicking holder's lease was released")
        .unwrap();
    drop(lease);
    assert_no_fleet_keys(&server, "permit_paths");
}

// ---- observability ------------------------------------------------------------

/// Drives a fleet group through what its series and events report: an
/// expired lease of a dead holder reclaimed, a lease held and a call
/// waiting (`probe("held and waiting")` is called then), another process
/// configured with another limit, a lease lost (its holder removed from
/// Redis), Redis unreachable (policy `local`: a local fallback) and back.
#[cfg(any(feature = "metrics", feature = "tracing"))]
async fn observed_scenario(name: &'static str, probe: impl Fn(&Group)) {
    let mut server = RedisServer::start();
    let group = fleet_group(name, &server, 1, OnUnreachable::Local);
    let holders = format!("{{pooled:{name}}}:holders");
    let mut connection = server.connection().unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg(&holders)
        .arg(1)
        .arg("1")
        .query(&mut connection)
        .unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(group.submit(0, async move {
        let _ = released.await;
    }));
    assert!(wait_until(Duration::from_secs(5), || group
        .fleet_stats()
        .unwrap()
        .held
        == 1));
    assert_eq!(group.fleet_stats().unwrap().reclaimed, 1);
    let waiter = tokio::spawn(group.submit(0, async {}));
    assert!(wait_until(Duration::from_secs(5), || group
        .fleet_stats()
        .unwrap()
        .waiting
        == 1));
    probe(group);
    // Another process configured with another limit.
    let mut settings = group.settings().fleet;
    settings.limit = Some(2);
    let other = Fleet::connect(name, &settings).unwrap();
    let _ = tokio::time::timeout(Duration::from_millis(300), other.acquire()).await;
    assert!(other.stats().limit_mismatches >= 1);
    // The holder's lease vanishes: its renewal reports it lost.
    let _: i64 = redis::cmd("DEL")
        .arg(&holders)
        .query(&mut connection)
        .unwrap();
    let holder = tokio::time::timeout(Duration::from_secs(5), holder)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder, Err(Rejected::LeaseLost));
    drop(release);
    assert_eq!(waiter.await.unwrap(), Ok(()));
    // Redis away: the call runs under the local limit alone; then back.
    server.stop();
    assert_eq!(group.submit(0, async { 1 }).await, Ok(1));
    assert_eq!(group.fleet_stats().unwrap().local_fallbacks, 1);
    server.restart();
    assert_eq!(
        group
            .submit(0, async { pool_runtime::fleet::token().is_some() })
            .await,
        Ok(true)
    );
    assert_no_fleet_keys(&server, name);
}

#[cfg(feature = "metrics")]
mod recorder {
    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    /// Counters and gauges by `name{pool}`, as a recorder keeps them.
    #[derive(Clone, Default)]
    pub struct Recorded(Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>);

    impl Recorded {
        fn handle(&self, key: &Key) -> Arc<AtomicU64> {
            let pool = key
                .labels()
                .find(|label| label.key() == "pool")
                .map_or("", |label| label.value());
            let name = format!("{}{{{pool}}}", key.name());
            self.0.lock().unwrap().entry(name).or_default().clone()
        }

        fn load(&self, name: &str, pool: &str) -> Option<u64> {
            let series = format!("{name}{{{pool}}}");
            let known = self.0.lock().unwrap();
            known
                .get(&series)
                .map(|value| value.load(Ordering::Relaxed))
        }

        pub fn counter(&self, name: &str, pool: &str) -> u64 {
            self.load(name, pool)
                .unwrap_or_else(|| panic!("{name} is registered"))
        }

        pub fn gauge(&self, name: &str, pool: &str) -> f64 {
            f64::from_bits(
                self.load(name, pool)
                    .unwrap_or_else(|| panic!("{name} is registered")),
            )
        }
    }

    impl metrics::Recorder for Recorded {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.handle(key))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(self.handle(key))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }
}

/// Feature `metrics`: the fleet's series follow what happens to its leases.
#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_metrics_follow_the_leases() {
    use pool_runtime::observe::metric;
    let recorded = recorder::Recorded::default();
    metrics::set_global_recorder(recorded.clone()).expect("the only recorder of this binary");
    let name = "metered";
    observed_scenario(name, |_| {
        assert_eq!(recorded.gauge(metric::FLEET_HELD, name), 1.0);
        assert_eq!(recorded.gauge(metric::FLEET_WAITING, name), 1.0);
        assert_eq!(recorded.gauge(metric::FLEET_LIMIT, name), 1.0);
    })
    .await;
    assert_eq!(recorded.gauge(metric::FLEET_HELD, name), 0.0);
    assert_eq!(recorded.gauge(metric::FLEET_WAITING, name), 0.0);
    assert_eq!(recorded.counter(metric::FLEET_LOST, name), 1);
    assert_eq!(recorded.counter(metric::FLEET_RECLAIMED, name), 1);
    assert_eq!(recorded.counter(metric::FLEET_LOCAL_FALLBACKS, name), 1);
    assert!(recorded.counter(metric::FLEET_REDIS_ERRORS, name) >= 1);
}

/// Feature `tracing`: a lease lost, a limit mismatch, Redis unreachable and
/// back are events of target `pooled`, with the group as `pool`.
#[cfg(feature = "tracing")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_events_are_traced() {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    /// `message pool=...` of every event of target `pooled`.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);
    struct Fields(String, String);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "message" => self.0 = format!("{value:?}"),
                "pool" => self.1 = format!("{value:?}"),
                _ => {}
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "pool" {
                self.1 = value.to_owned();
            }
        }
    }
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if event.metadata().target() == pool_runtime::observe::TARGET {
                let mut fields = Fields(String::new(), String::new());
                event.record(&mut fields);
                let line = format!("{} pool={}", fields.0, fields.1);
                self.0.lock().unwrap().push(line);
            }
        }
    }

    let capture = Capture::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture.clone()))
        .expect("the only global subscriber of this binary");
    observed_scenario("traced", |_| {}).await;
    let events = capture.0.lock().unwrap().clone();
    for expected in [
        "fleet limit mismatch",
        "fleet lease lost",
        "fleet redis unreachable",
        "fleet redis reachable again",
    ] {
        let line = format!("{expected} pool=traced");
        assert!(events.contains(&line), "no `{line}` in {events:#?}");
    }
}

/// Calls nested in the work of a fleet call run under its lease, on every
/// path (async, sync, permits, blocking), so a fleet limit of 1 cannot
/// deadlock a call that calls its own group: before, each nested call asked
/// for a second lease and waited for the one its parent held, forever. The
/// fleet still counts one call (`held` is 1 inside the deepest call), and
/// the nested calls see their parent's fencing token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_calls_share_their_parents_lease_and_never_wait_for_it() {
    let server = RedisServer::start();
    let group = fleet_group("nested", &server, 1, OnUnreachable::Wait);
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        group.submit(0, async move {
            let token = pool_runtime::fleet::token().expect("a leased call has a token");
            let nested = group
                .submit(0, async move {
                    let inner = group
                        .submit(0, async { pool_runtime::fleet::token() })
                        .await;
                    (inner, group.fleet_stats().unwrap().held)
                })
                .await
                .unwrap();
            assert_eq!(nested, (Ok(Some(token)), 1), "under the parent's lease");
            let permit = group.acquire(0).await.unwrap();
            assert!(
                permit.lease().is_none(),
                "the permit shares its parent's lease"
            );
            drop(permit);
            let try_permit = group.try_acquire(0).unwrap();
            assert!(try_permit.lease().is_none());
            drop(try_permit);
            // Sync and blocking calls in the work, the blocking one's closure
            // on another thread: still the parent's lease.
            let sync = tokio::task::block_in_place(|| group.run(pool_runtime::fleet::token));
            assert_eq!(sync, Ok(Some(token)));
            let blocking = group.submit_blocking(0, pool_runtime::fleet::token).await;
            assert_eq!(blocking, Ok(Some(token)));
            token
        }),
    )
    .await
    .expect("nested fleet calls never wait for their parent's lease");
    assert!(outcome.is_ok());
    let stats = group.fleet_stats().unwrap();
    assert_eq!(
        (stats.acquired, stats.released, stats.held),
        (1, 1, 0),
        "{stats:?}"
    );
    assert_no_fleet_keys(&server, "nested");
}
