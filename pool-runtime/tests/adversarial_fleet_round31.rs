//! Hostile tests of fleet limits, round 31, against real `redis-server`
//! processes: Redis paused while a grant is in flight (the answer times out,
//! the script still runs), `FLUSHALL` / `SCRIPT FLUSH` / `CLIENT KILL` /
//! `maxclients` mid-run, the stored limit changed or corrupted by another
//! client, work outliving several leases, panics, permits dropped on other
//! threads, raw `Fleet` leases mixed with group calls, and bad settings.
//! Every limit is counted from outside (a `Meter`, or the holders set read
//! over a connection of the test's own); every wait is bounded.
#![cfg(feature = "redis")]

mod common;
mod redis_server;

use common::Meter;
use pool_runtime::fleet::{Fleet, OnUnreachable};
use pool_runtime::{GroupSettings, Rejected};
use redis_server::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- helpers ---------------------------------------------------------------

/// A group of `size` local slots under fleet limit `limit` on `server`, with
/// a lease of `lease_ms` and `policy`.
fn fleet_group_lease(
    name: &str,
    server: &RedisServer,
    size: usize,
    limit: usize,
    lease_ms: u64,
    policy: OnUnreachable,
) -> &'static pool_runtime::Group {
    let url = leak(server.url());
    group_with(name, |spec| {
        spec.size(size)
            .fleet_limit(limit)
            .fleet_url(url)
            .fleet_lease(Duration::from_millis(lease_ms))
            .fleet_unreachable(policy)
    })
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Leases of group `group` in Redis now (members of its holders set).
fn holders(server: &RedisServer, group: &str) -> i64 {
    zcard(server, &format!("{{pooled:{group}}}:holders"))
}

/// Calls of group `group` queued in Redis now.
fn queued(server: &RedisServer, group: &str) -> i64 {
    zcard(server, &format!("{{pooled:{group}}}:queue"))
}

/// Runs one command on the test's own connection.
fn command(server: &RedisServer, args: &[&str]) -> redis::Value {
    let mut connection = server.connection().unwrap();
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(&mut connection)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Samples the holders set of `group` every 2 ms until `stop`, keeping the
/// largest count seen.
fn sample_holders(
    server: &RedisServer,
    group: &str,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<i64> {
    let mut connection = server.connection().unwrap();
    let key = format!("{{pooled:{group}}}:holders");
    std::thread::spawn(move || {
        let mut max = 0;
        while !stop.load(Ordering::SeqCst) {
            let n: i64 = redis::cmd("ZCARD")
                .arg(&key)
                .query(&mut connection)
                .unwrap_or(0);
            max = max.max(n);
            std::thread::sleep(Duration::from_millis(2));
        }
        max
    })
}

/// Waits (at most 2 s) until `group`'s stats show nothing held or waiting
/// and every lease acquired was released.
fn assert_fleet_accounted(group: &pool_runtime::Group) {
    let settled = wait_until(Duration::from_secs(2), || {
        let s = group.fleet_stats().unwrap();
        s.held == 0 && s.waiting == 0 && s.acquired == s.released
    });
    assert!(settled, "{:?}", group.fleet_stats());
    common::assert_accounted(&group.stats());
}

/// Makes one call so the fleet's connection to Redis is established.
async fn warm(group: &'static pool_runtime::Group) {
    tokio::time::timeout(Duration::from_secs(10), group.submit(0, async {}))
        .await
        .expect("the warm-up call returns")
        .expect("the warm-up call runs");
}

// ---- a grant whose answer timed out ---------------------------------------

/// Promise (`fleet`, **Redis unreachable**): "A command not answered within
/// a quarter of the lease (at most 1 s) counts as unreachable, and
/// `fleet_unreachable` decides: ... `reject` turns the call away"; and a
/// call's lease is "released ... however it ends". Redis is paused
/// (`SIGSTOP`: a stalled server) while a rejecting call asks for a lease:
/// its command times out and the call is turned away, but the script was
/// delivered and runs when Redis resumes. Nothing in this process holds a
/// lease after that, so Redis must hold none either: another process must
/// be admitted at once, not a lease length later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_grant_under_reject_leaves_no_lease_in_redis() {
    let server = RedisServer::start();
    let name = "r31_orphan_reject";
    // Lease 8 s: patience 1 s; an orphan would live 8 s.
    let a = fleet_group_lease(name, &server, 4, 2, 8000, OnUnreachable::Reject);
    let b = fleet_group_lease(name, &server, 4, 2, 8000, OnUnreachable::Reject);
    warm(a).await;
    warm(b).await;
    signal(server.pid(), "-STOP");
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(15), a.submit(0, async {})).await;
    let turned_away_after = started.elapsed();
    signal(server.pid(), "-CONT");
    assert!(
        matches!(r, Ok(Err(Rejected::FleetUnavailable))),
        "{r:?} after {turned_away_after:?}"
    );
    // The delayed commands run once Redis resumes.
    std::thread::sleep(Duration::from_millis(500));
    let (held, waiting) = (holders(&server, name), queued(&server, name));
    let s = a.fleet_stats().unwrap();
    assert_eq!((s.held, s.waiting), (0, 0), "{s:?}");
    // Another process: both of the fleet's leases must be free now.
    let first = b.try_acquire_owned(0);
    let second = b.try_acquire_owned(0);
    assert!(
        first.is_ok() && second.is_ok() && held == 0 && waiting == 0,
        "nobody holds a lease, yet Redis has {held} holder(s) and {waiting} queued; \
         another process's try_acquire: {:?}, {:?}",
        first.as_ref().map(|_| ()),
        second.as_ref().map(|_| ())
    );
}

/// As above under `local`: the call runs under the local limit alone while
/// Redis is stalled (counted in `local_fallbacks`); once Redis resumes, the
/// lease its timed-out command was granted must not linger in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_grant_under_local_leaves_no_lease_in_redis() {
    let server = RedisServer::start();
    let name = "r31_orphan_local";
    let a = fleet_group_lease(name, &server, 4, 1, 8000, OnUnreachable::Local);
    let b = fleet_group_lease(name, &server, 4, 1, 8000, OnUnreachable::Local);
    warm(a).await;
    warm(b).await;
    signal(server.pid(), "-STOP");
    let r = tokio::time::timeout(
        Duration::from_secs(15),
        a.submit(0, async { pool_runtime::fleet::token() }),
    )
    .await;
    signal(server.pid(), "-CONT");
    assert!(matches!(r, Ok(Ok(None))), "ran locally, no token: {r:?}");
    assert_eq!(a.fleet_stats().unwrap().local_fallbacks, 1);
    std::thread::sleep(Duration::from_millis(500));
    let held = holders(&server, name);
    let other = b.try_acquire_owned(0);
    assert!(
        held == 0 && other.is_ok(),
        "nobody holds a lease, yet Redis has {held} holder(s); another process's \
         try_acquire: {:?}",
        other.as_ref().map(|_| ())
    );
}

/// `try_acquire` never waits: with Redis stalled it is turned away
/// (`FleetUnavailable`, under `wait` as under `reject`). Its commands still
/// run when Redis resumes; the lease one of them is granted must not stay
/// in Redis with nobody holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_try_acquire_leaves_no_lease_in_redis() {
    let server = RedisServer::start();
    let name = "r31_orphan_try";
    let a = fleet_group_lease(name, &server, 4, 3, 8000, OnUnreachable::Wait);
    let b = fleet_group_lease(name, &server, 4, 3, 8000, OnUnreachable::Wait);
    warm(a).await;
    warm(b).await;
    signal(server.pid(), "-STOP");
    let r = tokio::task::spawn_blocking(move || a.try_acquire_owned(0).map(|_| ()))
        .await
        .unwrap();
    signal(server.pid(), "-CONT");
    assert_eq!(r, Err(Rejected::FleetUnavailable));
    std::thread::sleep(Duration::from_millis(500));
    let held = holders(&server, name);
    let others: Vec<_> = (0..3).map(|_| b.try_acquire_owned(0)).collect();
    let admitted = others.iter().filter(|r| r.is_ok()).count();
    assert!(
        held == 0 && admitted == 3,
        "nobody holds a lease, yet Redis has {held} holder(s); another process \
         got {admitted} of the 3 leases"
    );
}

/// Under `wait`, a call waiting through a stall of Redis is admitted as
/// soon as Redis answers again when the fleet is otherwise idle — not a
/// lease length later, behind a lease its own timed-out command was
/// granted. Limit 1, lease 8 s: admitted within 2.5 s of Redis resuming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_call_is_admitted_promptly_once_a_stalled_redis_resumes() {
    let server = RedisServer::start();
    let name = "r31_orphan_wait";
    let a = fleet_group_lease(name, &server, 4, 1, 8000, OnUnreachable::Wait);
    warm(a).await;
    signal(server.pid(), "-STOP");
    let call = tokio::spawn(a.submit(0, async { pool_runtime::fleet::token() }));
    // Long enough for several attempts to time out (patience 1 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    signal(server.pid(), "-CONT");
    let resumed = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(15), call)
        .await
        .expect("the call returns")
        .unwrap();
    let waited = resumed.elapsed();
    assert!(matches!(r, Ok(Some(_))), "{r:?}");
    assert!(
        waited < Duration::from_millis(2500),
        "admitted {waited:?} after Redis resumed, with nothing else in the fleet"
    );
}

/// The same through an ordinary operation: `CLIENT PAUSE <ms> WRITE` (what
/// a manual failover does) holds every script that writes until the pause
/// ends. A permit's acquire (`acquire_owned`, policy `reject`) times out and
/// is turned away with `FleetUnavailable`; when the pause ends its held-back
/// scripts run and grant leases nobody holds, and other processes are kept
/// out for a whole lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pause_during_a_permits_acquire_leaves_no_lease_in_redis() {
    let server = RedisServer::start();
    let name = "r31_orphan_pause";
    let a = fleet_group_lease(name, &server, 4, 2, 8000, OnUnreachable::Reject);
    let b = fleet_group_lease(name, &server, 4, 2, 8000, OnUnreachable::Reject);
    warm(a).await;
    warm(b).await;
    command(&server, &["CLIENT", "PAUSE", "2500", "WRITE"]);
    let r = tokio::time::timeout(Duration::from_secs(15), a.acquire_owned(0)).await;
    assert!(
        matches!(r, Ok(Err(Rejected::FleetUnavailable))),
        "{:?}",
        r.map(|r| r.map(|_| ()))
    );
    // Until the pause is over, and a little more.
    std::thread::sleep(Duration::from_millis(1200));
    let held = holders(&server, name);
    let others: Vec<_> = (0..2).map(|_| b.try_acquire_owned(0)).collect();
    let admitted = others.iter().filter(|r| r.is_ok()).count();
    assert_eq!(a.fleet_stats().unwrap().held, 0);
    assert!(
        held == 0 && admitted == 2,
        "nobody holds a lease, yet Redis has {held} holder(s); another process \
         got {admitted} of the 2 leases"
    );
}

/// `Lease::release().await` with Redis stalled returns once its first
/// attempt has failed (bounded: the fleet's patience, a quarter of the
/// lease), and the release still reaches Redis once it resumes: nothing
/// left held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_with_redis_stalled_returns_in_bounded_time_and_still_lands() {
    let server = RedisServer::start();
    let name = "r31_release_stalled";
    let g = fleet_group_lease(name, &server, 4, 2, 2000, OnUnreachable::Wait);
    let fleet = other_client(g);
    let lease = fleet.acquire().await.unwrap();
    assert_eq!(holders(&server, name), 1);
    signal(server.pid(), "-STOP");
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), lease.release()).await;
    let took = started.elapsed();
    signal(server.pid(), "-CONT");
    assert!(r.is_ok(), "release() hung with Redis stalled");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert!(
        wait_until(Duration::from_millis(1500), || holders(&server, name) == 0),
        "the release landed once Redis resumed (before the 2 s lease ran out)"
    );
    tokio::time::timeout(Duration::from_secs(5), fleet.flush())
        .await
        .unwrap();
    let s = fleet.stats();
    assert_eq!((s.held, s.acquired, s.released, s.lost), (0, 1, 1, 0));
    assert_no_fleet_keys(&server, name);
}

// ---- Redis loses its data, its scripts, its connections ----------------------

/// Promise (`fleet`, **A Redis that restarts empty over-admits too**, and
/// **Fencing tokens**): after a `FLUSHALL` each holder learns of the loss at
/// its next renewal, which "ends a rejecting async call" with `LeaseLost`;
/// the loss is counted; tokens "keep growing after the keys are deleted".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_ends_rejecting_holders_with_lease_lost_and_tokens_keep_growing() {
    let server = RedisServer::start();
    let name = "r31_flushall";
    // Lease 1.5 s: renewals every 500 ms.
    let a = fleet_group_lease(name, &server, 4, 2, 1500, OnUnreachable::Reject);
    let tokens = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut calls = Vec::new();
    for _ in 0..2 {
        let tokens = tokens.clone();
        calls.push(tokio::spawn(a.submit(0, async move {
            tokens
                .lock()
                .unwrap()
                .push(pool_runtime::fleet::token().unwrap());
            tokio::time::sleep(Duration::from_secs(30)).await;
        })));
    }
    assert!(wait_until(Duration::from_secs(5), || holders(
        &server, name
    ) == 2));
    command(&server, &["FLUSHALL"]);
    let flushed = Instant::now();
    for call in calls {
        let r = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("the holder is ended")
            .unwrap();
        assert_eq!(r, Err(Rejected::LeaseLost));
    }
    assert!(
        flushed.elapsed() < Duration::from_millis(1500),
        "ended {:?} after the flush (renewals every 500 ms)",
        flushed.elapsed()
    );
    let s = a.fleet_stats().unwrap();
    assert_eq!(s.lost, 2, "{s:?}");
    let old = tokens.lock().unwrap().clone();
    let new = tokio::time::timeout(
        Duration::from_secs(5),
        a.submit(0, async { pool_runtime::fleet::token().unwrap() }),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(old.iter().all(|&t| new > t), "token {new} after {old:?}");
    assert_fleet_accounted(a);
    assert_no_fleet_keys(&server, name);
}

/// Promise (`fleet`): "Scripts are re-sent after `NOSCRIPT`." `SCRIPT FLUSH`
/// every 5 ms while three clients run calls under limit 2 and `wait`: every
/// call runs, no lease is lost, no more than 2 at once. (Under `reject` a
/// flush that lands between the reload and the retried `EVALSHA` twice in a
/// row turns a call away with `FleetUnavailable` though Redis answers: a
/// refused command counts as unreachable, see the report.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_flush_mid_run_costs_no_call_and_keeps_the_limit() {
    const FLUSH_EVERY_MS: u64 = 5;
    let server = RedisServer::start();
    let name = "r31_script_flush";
    let groups: Vec<_> = (0..3)
        .map(|_| fleet_group_lease(name, &server, 4, 2, 1500, OnUnreachable::Wait))
        .collect();
    let meter = Meter::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flusher = {
        let mut connection = server.connection().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let _: () = redis::cmd("SCRIPT")
                    .arg("FLUSH")
                    .query(&mut connection)
                    .unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(FLUSH_EVERY_MS));
            }
            n
        })
    };
    let mut calls = Vec::new();
    for i in 0..60 {
        let g = groups[i % 3];
        let m = meter.clone();
        calls.push(tokio::spawn(g.submit(0, m.body(5))));
    }
    for call in calls {
        tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .expect("every call returns")
            .unwrap()
            .unwrap_or_else(|e| panic!("every call runs: {e:?} {:?}", groups[0].fleet_stats()));
    }
    stop.store(true, Ordering::SeqCst);
    assert!(flusher.join().unwrap() > 3);
    assert_eq!(meter.max(), 2);
    for g in groups {
        let s = g.fleet_stats().unwrap();
        assert_eq!((s.lost, s.rejected_unavailable), (0, 0), "{s:?}");
        assert_fleet_accounted(g);
    }
    assert_no_fleet_keys(&server, name);
}

/// Connections cut under the fleet's feet (`CLIENT KILL` of every normal and
/// pub/sub client, every 40 ms) while three clients run calls under limit 2
/// and `wait`: the connection manager reconnects, every call runs, and no
/// more than 2 ever run at once, counted from outside by a `Meter` (not by
/// the holders set, which the orphans of lost answers inflate: see
/// `connections_killed_mid_grant_leave_no_lease_in_redis`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_mid_run_keep_the_limit_and_lose_no_call() {
    let server = RedisServer::start();
    let name = "r31_client_kill";
    let groups: Vec<_> = (0..3)
        .map(|_| fleet_group_lease(name, &server, 4, 2, 3000, OnUnreachable::Wait))
        .collect();
    let meter = Meter::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let mut connection = server.connection().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut killed = 0i64;
            while !stop.load(Ordering::SeqCst) {
                for kind in ["normal", "pubsub"] {
                    let n: i64 = redis::cmd("CLIENT")
                        .arg("KILL")
                        .arg("TYPE")
                        .arg(kind)
                        .arg("SKIPME")
                        .arg("yes")
                        .query(&mut connection)
                        .unwrap();
                    killed += n;
                }
                std::thread::sleep(Duration::from_millis(40));
            }
            killed
        })
    };
    let mut calls = Vec::new();
    for i in 0..45 {
        let g = groups[i % 3];
        let m = meter.clone();
        calls.push(tokio::spawn(g.submit(0, m.body(10))));
    }
    for call in calls {
        tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("every call returns")
            .unwrap()
            .expect("`wait`: every call runs");
    }
    stop.store(true, Ordering::SeqCst);
    let killed = killer.join().unwrap();
    assert!(killed > 0, "the fleet's connections were killed");
    assert!(meter.max() <= 2, "{} at once", meter.max());
    for g in groups {
        assert_fleet_accounted(g);
    }
    // Not `assert_no_fleet_keys`: a grant whose answer a kill cut off is
    // left in Redis (see `connections_killed_mid_grant_leave_no_lease_in_redis`).
}

/// The orphan of a lost answer again, with nothing stalled: connections
/// killed (`CLIENT KILL`) while calls take leases. A grant that ran but
/// whose answer the kill cut off counts as a failed command; the call asks
/// again under the same waiter id, is granted a second lease, and the first
/// stays in Redis with nobody holding it ("never handed to a call" below).
/// Rounds of calls under a kill storm (lease 4 s, for up to 12 s); after
/// each, once every call has returned and `flush` has returned, Redis must
/// hold no live lease that was never handed to a call (expired entries,
/// which block nobody, are not counted; nor are leases a call held whose
/// release gave up after its retries, which the `Lease` docs allow: "a
/// lease whose release cannot be delivered expires on its own").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_mid_grant_leave_no_lease_in_redis() {
    let server = RedisServer::start();
    let name = "r31_kill_orphan";
    let groups: Vec<_> = (0..3)
        .map(|_| fleet_group_lease(name, &server, 4, 3, 4000, OnUnreachable::Wait))
        .collect();
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(12) {
        round += 1;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let killer = {
            let mut connection = server.connection().unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _: i64 = redis::cmd("CLIENT")
                        .arg("KILL")
                        .arg("TYPE")
                        .arg("normal")
                        .arg("SKIPME")
                        .arg("yes")
                        .query(&mut connection)
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let mut calls = Vec::new();
        for i in 0..30 {
            let g = groups[i % 3];
            let seen = seen.clone();
            let _ = round;
            calls.push(tokio::spawn(g.submit(0, async move {
                let token = pool_runtime::fleet::token().unwrap();
                *seen.lock().unwrap().entry(token).or_insert(0) += 1;
            })));
        }
        // A hang bound, not a speed bound: each grant a kill cuts off
        // orphans a lease that blocks one of the 3 fleet slots for its 4 s;
        // a loaded machine slows the calls but not the 20 ms kills, so more
        // grants are cut and orphans can queue 30 calls behind several
        // 4 s expiries (20 s elapsed once in 6 runs under extra load).
        for call in calls {
            tokio::time::timeout(Duration::from_secs(60), call)
                .await
                .expect("every call returns (leases orphaned by earlier rounds expire in 4 s)")
                .unwrap()
                .expect("`wait`: every call runs");
        }
        stop.store(true, Ordering::SeqCst);
        killer.join().unwrap();
        for g in &groups {
            assert_fleet_accounted(g);
            tokio::time::timeout(Duration::from_secs(10), g.fleet().unwrap().flush())
                .await
                .unwrap();
        }
        let mut connection = server.connection().unwrap();
        // Live leases only: an expired entry waits for the next acquire to
        // reclaim it, and blocks nobody.
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut connection).unwrap();
        let now_ms = secs * 1000 + micros / 1000;
        let left: Vec<u64> = redis::cmd("ZRANGEBYSCORE")
            .arg(format!("{{pooled:{name}}}:holders"))
            .arg(format!("({now_ms}"))
            .arg("+inf")
            .query(&mut connection)
            .unwrap();
        let seen = seen.lock().unwrap();
        let never_handed_out: Vec<_> = left.iter().filter(|t| !seen.contains_key(t)).collect();
        assert!(
            never_handed_out.is_empty(),
            "round {round}: every call returned and released, yet Redis holds \
             lease(s) {left:?}; never handed to a call: {never_handed_out:?}; handed: {:?}; {:?}; {:?}",
            left.iter().map(|t| seen.get(t)).collect::<Vec<_>>(),
            redis::cmd("ZRANGE").arg(format!("{{pooled:{name}}}:holders")).arg(0).arg(-1).arg("WITHSCORES").query::<Vec<String>>(&mut connection),
            groups.iter().map(|g| g.fleet_stats().unwrap()).collect::<Vec<_>>()
        );
    }
}

/// Promise (`fleet`, **Fairness**): "a waiter also asks again at the nearest
/// lease expiry and at least every third of a lease ..., so a lost message
/// costs it at most that". The pub/sub connection is killed (the release's
/// message is lost) while a call of another client waits: it is admitted
/// within a third of a lease (+ slack) of the release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_release_message_costs_a_waiter_at_most_a_third_of_a_lease() {
    let server = RedisServer::start();
    let name = "r31_pubsub_lost";
    let a = fleet_group_lease(name, &server, 4, 1, 3000, OnUnreachable::Wait);
    let b = fleet_group_lease(name, &server, 4, 1, 3000, OnUnreachable::Wait);
    let permit = a.acquire_owned(0).await.unwrap();
    let waiter = tokio::spawn(b.submit(0, async {}));
    assert!(wait_until(Duration::from_secs(5), || {
        b.fleet_stats().unwrap().waiting == 1 && queued(&server, name) == 1
    }));
    // Cut every subscription, then release at once: the message may be lost.
    command(&server, &["CLIENT", "KILL", "TYPE", "pubsub"]);
    drop(permit);
    let released = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter is admitted")
        .unwrap()
        .unwrap();
    assert!(
        released.elapsed() < Duration::from_millis(2000),
        "admitted {:?} after the release (a third of the lease is 1 s)",
        released.elapsed()
    );
    assert_fleet_accounted(a);
    assert_fleet_accounted(b);
    assert_no_fleet_keys(&server, name);
}

/// A Redis that refuses new connections (`maxclients` reached, the fleet's
/// connections killed) is unreachable: under `reject` a call is turned away
/// with `FleetUnavailable` in bounded time, never a panic or a hang; once
/// Redis accepts connections again, calls run under leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_refusing_connections_is_unreachable_then_recovers() {
    let server = RedisServer::start();
    let name = "r31_maxclients";
    let a = fleet_group_lease(name, &server, 4, 2, 2000, OnUnreachable::Reject);
    warm(a).await;
    // One connection of the test's own, then no room for anyone else.
    let mut admin = server.connection().unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("1")
        .query(&mut admin)
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query(&mut admin)
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut admin)
        .unwrap();
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), a.submit(0, async {}))
        .await
        .expect("turned away in bounded time");
    assert_eq!(r, Err(Rejected::FleetUnavailable));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("10000")
        .query(&mut admin)
        .unwrap();
    drop(admin);
    // Back: a call runs under a lease (the connection manager reconnects).
    let back = wait_until_async(Duration::from_secs(5), || async {
        matches!(
            tokio::time::timeout(
                Duration::from_secs(5),
                a.submit(0, async { pool_runtime::fleet::token() })
            )
            .await,
            Ok(Ok(Some(_)))
        )
    })
    .await;
    assert!(back, "{:?}", a.fleet_stats());
    assert_fleet_accounted(a);
    assert_no_fleet_keys(&server, name);
}

async fn wait_until_async<F, Fut>(timeout: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Promise (`fleet`, **Redis unreachable** under `local`): "runs it under
/// the local limit alone, counted in `FleetStats::local_fallbacks`" (no
/// token); once Redis is back (restarted empty), calls take leases again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_local_a_stopped_redis_runs_calls_locally_then_leases_resume() {
    let mut server = RedisServer::start();
    let name = "r31_local_back";
    let a = fleet_group_lease(name, &server, 2, 1, 1000, OnUnreachable::Local);
    warm(a).await;
    server.stop();
    let meter = Meter::default();
    let mut calls = Vec::new();
    for _ in 0..6 {
        let m = meter.clone();
        calls.push(tokio::spawn(a.submit(0, async move {
            let _in = m.enter();
            tokio::time::sleep(Duration::from_millis(20)).await;
            pool_runtime::fleet::token()
        })));
    }
    for call in calls {
        let r = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("bounded")
            .unwrap();
        assert_eq!(r, Ok(None), "ran under the local limit alone");
    }
    assert!(meter.max() <= 2, "the local limit holds: {}", meter.max());
    assert_eq!(a.fleet_stats().unwrap().local_fallbacks, 6);
    server.restart();
    let back = wait_until_async(Duration::from_secs(5), || async {
        matches!(
            tokio::time::timeout(
                Duration::from_secs(5),
                a.submit(0, async { pool_runtime::fleet::token() })
            )
            .await,
            Ok(Ok(Some(_)))
        )
    })
    .await;
    assert!(back, "{:?}", a.fleet_stats());
    assert_fleet_accounted(a);
    assert_no_fleet_keys(&server, name);
}

// ---- the stored limit ------------------------------------------------------

/// Promise (`fleet`, **One limit**): a process "follows the stored one".
/// Another client lowers the stored limit from 3 to 1 while 3 leases are
/// held: no new lease is granted until fewer than 1 are held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_limit_lowered_by_another_client_is_followed() {
    let server = RedisServer::start();
    let name = "r31_lowered";
    let a = fleet_group_lease(name, &server, 8, 3, 5000, OnUnreachable::Reject);
    let b = fleet_group_lease(name, &server, 8, 3, 5000, OnUnreachable::Reject);
    let mut held: Vec<_> = Vec::new();
    for _ in 0..3 {
        held.push(a.acquire_owned(0).await.unwrap());
    }
    command(&server, &["SET", &format!("{{pooled:{name}}}:limit"), "1"]);
    held.pop();
    held.pop();
    assert!(wait_until(Duration::from_secs(3), || holders(
        &server, name
    ) == 1));
    let r = b.try_acquire_owned(0);
    assert!(matches!(r, Err(Rejected::Full)), "{:?}", r.map(|_| ()));
    let s = b.fleet_stats().unwrap();
    assert_eq!(s.limit_in_force, 1, "{s:?}");
    held.clear();
    assert!(wait_until(Duration::from_secs(3), || holders(
        &server, name
    ) == 0));
    let r = b.try_acquire_owned(0);
    assert!(r.is_ok(), "{:?}", r.map(|_| ()));
    drop(r);
    assert_fleet_accounted(a);
    assert_fleet_accounted(b);
}

/// A stored limit that is not a number (another client's garbage) is bad
/// input from outside: never a panic or a freeze. The acquire script
/// replaces it with the caller's limit, and the limit holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_limit_that_is_not_a_number_is_replaced_and_the_limit_holds() {
    let server = RedisServer::start();
    let name = "r31_garbage_limit";
    let a = fleet_group_lease(name, &server, 8, 2, 3000, OnUnreachable::Reject);
    let limit_key = format!("{{pooled:{name}}}:limit");
    command(&server, &["SET", &limit_key, "lots"]);
    let meter = Meter::default();
    let mut calls = Vec::new();
    for _ in 0..12 {
        let m = meter.clone();
        calls.push(tokio::spawn(a.submit(0, m.body(10))));
    }
    for call in calls {
        tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("bounded")
            .unwrap()
            .unwrap();
    }
    assert_eq!(meter.max(), 2);
    let s = a.fleet_stats().unwrap();
    assert_eq!(s.limit_in_force, 2, "{s:?}");
    assert_fleet_accounted(a);
    assert_no_fleet_keys(&server, name);
}

/// `fleet`, **One limit**: "a stored value that is not a whole number from
/// 1 to `MAX_SLOTS`, written by another client, is replaced as a missing one
/// is". A stored 0 made every call wait for good (even under `reject`), -1
/// read as `u64::MAX`, and 1e300 lifted the limit: each is replaced by the
/// caller's limit, which holds (counted from outside), and every call ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_limit_out_of_range_is_replaced_and_the_limit_holds() {
    for (i, bad) in ["0", "-1", "1e300", "2.5", "1073741824"]
        .into_iter()
        .enumerate()
    {
        let server = RedisServer::start();
        let name: &'static str = leak(format!("r31_bad_limit_{i}"));
        let a = fleet_group_lease(name, &server, 8, 2, 3000, OnUnreachable::Reject);
        let limit_key = format!("{{pooled:{name}}}:limit");
        command(&server, &["SET", &limit_key, bad]);
        let meter = Meter::default();
        let mut calls = Vec::new();
        for _ in 0..12 {
            let m = meter.clone();
            calls.push(tokio::spawn(a.submit(0, m.body(10))));
        }
        for call in calls {
            tokio::time::timeout(Duration::from_secs(20), call)
                .await
                .unwrap_or_else(|_| panic!("stored limit {bad}: a call never ended"))
                .unwrap()
                .unwrap();
        }
        assert_eq!(meter.max(), 2, "stored limit {bad}");
        let s = a.fleet_stats().unwrap();
        assert_eq!(s.limit_in_force, 2, "stored limit {bad}: {s:?}");
        assert_fleet_accounted(a);
        assert_no_fleet_keys(&server, name);
    }
}

// ---- renewal, panics, permits across threads ---------------------------------

/// Promise (`fleet`, **Expiry and renewal**): a lease "is renewed every
/// third of that in the background". Work running 5 leases long (lease
/// 600 ms) keeps its lease the whole time: another client is turned away
/// (`Full`) at every sample, nothing is lost, and the call returns its
/// value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_longer_than_several_leases_keeps_its_lease_throughout() {
    let server = RedisServer::start();
    let name = "r31_long_work";
    let a = fleet_group_lease(name, &server, 4, 1, 600, OnUnreachable::Reject);
    let b = fleet_group_lease(name, &server, 4, 1, 600, OnUnreachable::Reject);
    let call = tokio::spawn(a.submit(0, async {
        tokio::time::sleep(Duration::from_millis(3000)).await;
        7
    }));
    assert!(wait_until(Duration::from_secs(5), || a
        .fleet_stats()
        .unwrap()
        .held
        == 1));
    let started = Instant::now();
    let mut samples = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        let r = tokio::task::block_in_place(|| b.try_acquire_owned(0).map(|_| ()));
        assert_eq!(r, Err(Rejected::Full), "at {:?}", started.elapsed());
        assert_eq!(holders(&server, name), 1);
        samples += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(samples >= 5);
    let r = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, Ok(7));
    assert_eq!(a.fleet_stats().unwrap().lost, 0);
    assert_fleet_accounted(a);
    assert_no_fleet_keys(&server, name);
}

/// A call whose work panics while it holds a lease releases it at once
/// (not at its expiry: lease 10 s): another client is admitted within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_work_releases_the_lease_at_once() {
    common::quiet_planned_panics();
    let server = RedisServer::start();
    let name = "r31_panic";
    let a = fleet_group_lease(name, &server, 4, 1, 10_000, OnUnreachable::Wait);
    let b = fleet_group_lease(name, &server, 4, 1, 10_000, OnUnreachable::Wait);
    let meter = Meter::default();
    let m = meter.clone();
    let call = tokio::spawn(a.submit(0, async move {
        let _in = m.enter();
        tokio::time::sleep(Duration::from_millis(50)).await;
        panic!("planned panic holding a lease");
    }));
    assert!(call.await.unwrap_err().is_panic());
    let waited = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), b.submit(0, async {}))
        .await
        .expect("admitted");
    assert_eq!(r, Ok(()));
    assert!(
        waited.elapsed() < Duration::from_millis(1000),
        "admitted {:?} after the panic (lease 10 s)",
        waited.elapsed()
    );
    assert_eq!(meter.done(), 1);
    assert_fleet_accounted(a);
    assert_fleet_accounted(b);
    assert_no_fleet_keys(&server, name);
}

/// Permits holding leases, moved to plain threads and dropped there (one of
/// them in a panicking thread's unwind), release their leases promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permits_dropped_on_other_threads_release_their_leases() {
    common::quiet_planned_panics();
    let server = RedisServer::start();
    let name = "r31_permit_threads";
    let a = fleet_group_lease(name, &server, 4, 2, 10_000, OnUnreachable::Wait);
    let first = a.acquire_owned(0).await.unwrap();
    let second = a.acquire(0).await.unwrap();
    assert!(first.lease().unwrap().token() < second.lease().unwrap().token());
    assert_eq!(holders(&server, name), 2);
    std::thread::spawn(move || drop(first)).join().unwrap();
    let r = std::thread::spawn(move || {
        let _permit = second;
        panic!("planned panic holding a permit");
    })
    .join();
    assert!(r.is_err());
    assert!(
        wait_until(Duration::from_secs(1), || holders(&server, name) == 0),
        "{} left",
        holders(&server, name)
    );
    assert_fleet_accounted(a);
    assert_no_fleet_keys(&server, name);
}

/// A call dropped while it waits for its *local* slot never asks the fleet:
/// no lease taken, nothing queued in Redis, nothing counted as waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dropped_while_waiting_for_its_local_slot_takes_no_lease() {
    let server = RedisServer::start();
    let name = "r31_local_wait";
    let a = fleet_group_lease(name, &server, 1, 3, 10_000, OnUnreachable::Wait);
    let permit = a.acquire_owned(0).await.unwrap();
    let r = tokio::time::timeout(Duration::from_millis(300), a.submit(0, async {})).await;
    assert!(r.is_err(), "waits for the local slot");
    let s = a.fleet_stats().unwrap();
    assert_eq!((s.held, s.waiting, s.acquired), (1, 0, 1), "{s:?}");
    assert_eq!(queued(&server, name), 0);
    assert_eq!(holders(&server, name), 1);
    drop(permit);
    assert_fleet_accounted(a);
    assert_no_fleet_keys(&server, name);
}

// ---- every path of one process against raw leases of others -------------------

/// Raw `Fleet` leases (`acquire`, `acquire_blocking` on plain threads) of
/// two other "processes" and one group's async and sync calls share limit
/// 2: never more than 2 at once, counted from outside by a `Meter` and by
/// sampling the holders set; every lease released, no keys left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_leases_and_group_calls_share_the_limit() {
    let server = RedisServer::start();
    let name = "r31_raw_mix";
    let g = fleet_group_lease(name, &server, 4, 2, 2000, OnUnreachable::Wait);
    let raw_async = other_client(g);
    let raw_sync = other_client(g);
    let meter = Meter::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_holders(&server, name, stop.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (f, m) = (raw_async.clone(), meter.clone());
        tasks.push(tokio::spawn(async move {
            let lease = f.acquire().await.unwrap();
            assert!(lease.token().is_some());
            m.body(5).await;
            lease.release().await;
        }));
        let m = meter.clone();
        tasks.push(tokio::spawn(async move {
            g.submit(0, m.body(5)).await.unwrap();
        }));
    }
    let mut threads = Vec::new();
    for _ in 0..4 {
        let (f, m) = (raw_sync.clone(), meter.clone());
        threads.push(std::thread::spawn(move || {
            for _ in 0..2 {
                let lease = f.acquire_blocking().unwrap();
                let _in = m.enter();
                std::thread::sleep(Duration::from_millis(5));
                drop(lease);
            }
        }));
        let m = meter.clone();
        threads.push(std::thread::spawn(move || {
            for _ in 0..2 {
                g.run(|| {
                    let _in = m.enter();
                    std::thread::sleep(Duration::from_millis(5));
                })
                .unwrap();
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("bounded")
            .unwrap();
    }
    tokio::task::spawn_blocking(move || {
        for t in threads {
            t.join().unwrap();
        }
    })
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    let max_held = sampler.join().unwrap();
    assert_eq!(meter.done(), 32);
    assert!(meter.max() <= 2, "{} at once", meter.max());
    assert!(max_held <= 2, "{max_held} leases at once in Redis");
    for f in [&raw_async, &raw_sync] {
        tokio::time::timeout(Duration::from_secs(5), f.flush())
            .await
            .unwrap();
        let s = f.stats();
        assert_eq!((s.held, s.waiting, s.acquired, s.released), (0, 0, 8, 8));
    }
    assert_fleet_accounted(g);
    assert_no_fleet_keys(&server, name);
}

/// `Lease::release().await`: the lease is gone from Redis when it returns
/// (not merely sent), and `flush` after dropped leases returns with none
/// left in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_and_flush_leave_nothing_in_redis_when_they_return() {
    let server = RedisServer::start();
    let name = "r31_release_flush";
    let g = fleet_group_lease(name, &server, 4, 3, 10_000, OnUnreachable::Wait);
    let fleet = other_client(g);
    let lease = fleet.acquire().await.unwrap();
    assert_eq!(holders(&server, name), 1);
    lease.release().await;
    assert_eq!(holders(&server, name), 0, "released when release() returns");
    let leases = vec![
        fleet.acquire().await.unwrap(),
        fleet.acquire().await.unwrap(),
        fleet.acquire().await.unwrap(),
    ];
    assert_eq!(holders(&server, name), 3);
    drop(leases);
    tokio::time::timeout(Duration::from_secs(5), fleet.flush())
        .await
        .unwrap();
    assert_eq!(holders(&server, name), 0, "released when flush() returns");
    let s = fleet.stats();
    assert_eq!((s.held, s.acquired, s.released), (0, 4, 4));
    assert_no_fleet_keys(&server, name);
}

/// Calls of three clients under limit 1, a third of them dropped at
/// staggered moments (waiting for their local slot, waiting in the fleet's
/// queue, holding the lease): never 2 at once (counted from outside), every
/// call accounted for, nothing left queued or held in Redis, and a fresh
/// call is admitted at once afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_cancellations_leaves_no_waiter_or_lease_behind() {
    let server = RedisServer::start();
    let name = "r31_cancel_storm";
    let groups: Vec<_> = (0..3)
        .map(|_| fleet_group_lease(name, &server, 3, 1, 10_000, OnUnreachable::Wait))
        .collect();
    let meter = Meter::default();
    let mut calls = Vec::new();
    for i in 0..36u64 {
        let g = groups[(i % 3) as usize];
        let m = meter.clone();
        calls.push(tokio::spawn(async move {
            let call = g.submit(0, m.body(4));
            if i % 3 == 0 {
                // Dropped somewhere between 1 and 60 ms in.
                let cut = Duration::from_millis(1 + (i * 7) % 60);
                if let Ok(r) = tokio::time::timeout(cut, call).await {
                    r.unwrap();
                }
            } else {
                call.await.unwrap();
            }
        }));
    }
    for call in calls {
        tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("bounded")
            .unwrap();
    }
    assert!(meter.max() <= 1, "{} at once", meter.max());
    for g in &groups {
        assert_fleet_accounted(g);
    }
    assert!(
        wait_until(Duration::from_secs(2), || queued(&server, name) == 0
            && holders(&server, name) == 0),
        "left in Redis: {} queued, {} held",
        queued(&server, name),
        holders(&server, name)
    );
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), groups[0].submit(0, async {}))
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_no_fleet_keys(&server, name);
}

/// Promise (`fleet`, **Redis unreachable**): under `wait` a call "retries
/// (backing off up to 1 s) until Redis answers". A sync call on a plain
/// thread parks while Redis is down, and runs (under a lease) soon after
/// Redis is back: within the 1 s backoff (+ slack).
#[test]
fn a_sync_call_under_wait_parks_while_redis_is_down_and_runs_once_back() {
    let mut server = RedisServer::start();
    let name = "r31_sync_wait";
    let g = fleet_group_lease(name, &server, 2, 1, 2000, OnUnreachable::Wait);
    assert_eq!(g.run(|| pool_runtime::fleet::token().is_some()), Ok(true));
    server.stop();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((g.run(pool_runtime::fleet::token), Instant::now()));
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(1500)).is_err(),
        "`wait` parks while Redis is down"
    );
    server.restart();
    let back = Instant::now();
    let (r, ran) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("runs once Redis is back");
    assert!(matches!(r, Ok(Some(_))), "{r:?}");
    assert!(
        ran.duration_since(back) < Duration::from_millis(2500),
        "ran {:?} after Redis came back",
        ran.duration_since(back)
    );
    let s = g.fleet_stats().unwrap();
    assert_eq!((s.local_fallbacks, s.rejected_unavailable), (0, 0), "{s:?}");
    assert!(wait_until(Duration::from_secs(2), || {
        let s = g.fleet_stats().unwrap();
        s.held == 0 && s.acquired == s.released
    }));
    assert_no_fleet_keys(&server, name);
}

/// The extremes of the lease's range work: 100 ms (renewed every 33 ms)
/// holds a call running 10 leases long without a loss, and 24 h (keys kept
/// 72 h) takes and releases leases and cleans up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shortest_and_longest_leases_work() {
    let server = RedisServer::start();
    let short = fleet_group_lease("r31_lease_min", &server, 2, 1, 100, OnUnreachable::Reject);
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        short.submit(0, async {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            pool_runtime::fleet::token().is_some()
        }),
    )
    .await
    .unwrap();
    assert_eq!(r, Ok(true), "{:?}", short.fleet_stats());
    assert_eq!(short.fleet_stats().unwrap().lost, 0);
    assert_fleet_accounted(short);
    let long = fleet_group_lease(
        "r31_lease_max",
        &server,
        2,
        2,
        24 * 3600 * 1000,
        OnUnreachable::Reject,
    );
    let permit = long.acquire_owned(0).await.unwrap();
    let ttl: i64 = match command(&server, &["PTTL", "{pooled:r31_lease_max}:holders"]) {
        redis::Value::Int(n) => n,
        other => panic!("{other:?}"),
    };
    assert!(ttl > 24 * 3600 * 1000, "keys kept three leases: {ttl} ms");
    drop(permit);
    assert_fleet_accounted(long);
    assert_no_fleet_keys(&server, "r31_lease_min");
    assert_no_fleet_keys(&server, "r31_lease_max");
}

// ---- bad input ---------------------------------------------------------------

/// Bad fleet settings given to `Fleet::connect` are error values: no limit,
/// a limit of 0 or above `MAX_SLOTS`, no URL, a URL of another scheme, a
/// lease of 0 or above 24 h. None panics.
#[test]
fn fleet_connect_refuses_bad_settings_with_an_error_value() {
    let ok = GroupSettings::DEFAULT
        .fleet_limit(2)
        .fleet_url("redis://127.0.0.1:1");
    assert!(Fleet::connect("r31_bad_ok", &ok.fleet).is_ok());
    let bad = [
        ("no limit", GroupSettings::DEFAULT.fleet),
        (
            "no limit, a URL",
            GroupSettings::DEFAULT
                .fleet_url("redis://127.0.0.1:1")
                .fleet,
        ),
        ("limit 0", ok.fleet_limit(0).fleet),
        (
            "limit too big",
            ok.fleet_limit(pool_runtime::MAX_SLOTS + 1).fleet,
        ),
        ("no url", GroupSettings::DEFAULT.fleet_limit(2).fleet),
        ("http", ok.fleet_url("http://127.0.0.1:6379").fleet),
        ("empty url", ok.fleet_url("").fleet),
        ("lease 0", ok.fleet_lease(Duration::ZERO).fleet),
        (
            "lease 99 ms",
            ok.fleet_lease(Duration::from_millis(99)).fleet,
        ),
        (
            "lease > 24 h",
            ok.fleet_lease(Duration::from_secs(24 * 3600 + 1)).fleet,
        ),
        ("lease max", ok.fleet_lease(Duration::MAX).fleet),
    ];
    for (what, settings) in bad {
        let r = std::panic::catch_unwind(|| Fleet::connect("r31_bad", &settings).map(|_| ()));
        assert!(matches!(r, Ok(Err(_))), "{what}: {r:?}");
    }
}

/// A URL that passes the scheme check but cannot be parsed or reached: each
/// policy answers in bounded time with an error value (or the local
/// fallback), from an async call, a sync call and a raw blocking acquire.
#[test]
fn unparseable_urls_follow_each_policy_without_panic_or_hang() {
    common::within(Duration::from_secs(60), || {
        let urls = ["redis://[::1", "redis://127.0.0.1:notaport", "unix://"];
        let policies = [
            OnUnreachable::Reject,
            OnUnreachable::Local,
            OnUnreachable::Wait,
        ];
        let rt = common::runtime();
        for (i, url) in urls.into_iter().enumerate() {
            for policy in policies {
                let name = format!("r31_bad_url_{i}_{policy}");
                let g = group_with(&name, |s| {
                    s.size(2)
                        .fleet_limit(1)
                        .fleet_url(url)
                        .fleet_lease(Duration::from_millis(400))
                        .fleet_unreachable(policy)
                });
                let started = Instant::now();
                let async_r = rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(2), g.submit(0, async {})).await
                });
                let sync_r = g.try_acquire_owned(0).map(|_| ());
                let raw = match policy {
                    // `wait` would park the thread until Redis answers.
                    OnUnreachable::Wait => None,
                    _ => Some(other_client(g).acquire_blocking().map(|l| l.token())),
                };
                match policy {
                    OnUnreachable::Reject => {
                        assert_eq!(async_r, Ok(Err(Rejected::FleetUnavailable)), "{url}");
                        assert_eq!(sync_r, Err(Rejected::FleetUnavailable), "{url}");
                        assert_eq!(raw, Some(Err(Rejected::FleetUnavailable)), "{url}");
                    }
                    OnUnreachable::Local => {
                        assert_eq!(async_r, Ok(Ok(())), "{url}");
                        assert_eq!(sync_r, Ok(()), "{url}");
                        assert_eq!(raw, Some(Ok(None)), "{url}: the local stand-in");
                    }
                    OnUnreachable::Wait => {
                        assert!(async_r.is_err(), "`wait` waits: {url} {async_r:?}");
                        assert_eq!(sync_r, Err(Rejected::FleetUnavailable), "{url}");
                    }
                }
                assert!(started.elapsed() < Duration::from_secs(5), "{url} {policy}");
                let s = g.fleet_stats().unwrap();
                assert_eq!((s.held, s.waiting), (0, 0), "{url} {policy}: {s:?}");
            }
        }
    });
}
