//! Hostile acceptance tests of fleet limits, round 7: call paths cancelled
//! while waiting for a lease, several pools of one process sharing one
//! Redis, the stored limit, `flush` with Redis gone, a group's
//! pause/close/scale while its calls wait for leases, and sync calls under
//! each `fleet_unreachable` policy. Each is written from a promise of
//! `pool_runtime::fleet` (quoted above it), counted from outside where it
//! can be, and bounded in time.
#![cfg(feature = "redis")]

mod common;
mod redis_server;

use common::Meter;
use pool_runtime::fleet::OnUnreachable;
use pool_runtime::Rejected;
use redis_server::*;
use std::time::{Duration, Instant};

/// Promise (`fleet`): a fleet limit is "shared by every process that uses
/// the same Redis and group name". Two groups of one process with one name
/// (one FIFO, one LIFO) are two clients of one fleet: counted from outside,
/// never more than the limit at once; each one's counters add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_of_one_process_with_one_name_share_the_fleet_limit() {
    let server = RedisServer::start();
    let a = fleet_group("r7_shared", &server, 2, OnUnreachable::Wait);
    let b = group_with("r7_shared", |s| {
        s.size(8)
            .order(pool_runtime::Order::Lifo)
            .fleet_limit(2)
            .fleet_url(leak(server.url()))
            .fleet_lease(Duration::from_millis(1000))
    });
    let meter = Meter::default();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let g = if i % 2 == 0 { a } else { b };
        let m = meter.clone();
        tasks.push(tokio::spawn(async move {
            g.submit(0, async move {
                let _in = m.enter();
                tokio::time::sleep(Duration::from_millis(5)).await;
            })
            .await
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    assert_eq!(meter.max(), 2);
    for g in [a, b] {
        let s = g.fleet_stats().unwrap();
        assert_eq!(
            (s.held, s.waiting, s.acquired, s.released),
            (0, 0, 16, 16),
            "{s:?}"
        );
    }
    assert_no_fleet_keys(&server, "r7_shared");
}

/// Promise (`fleet`, **One limit**): "a process configured with another
/// limit follows the stored one and reports the disagreement
/// (`FleetStats::limit_mismatches`)".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_configured_with_another_limit_follows_the_stored_one() {
    let server = RedisServer::start();
    let a = fleet_group("r7_mismatch", &server, 1, OnUnreachable::Wait);
    let b = fleet_group("r7_mismatch", &server, 3, OnUnreachable::Wait);
    let held = a.acquire_owned(0).await.unwrap();
    let r = b.try_acquire_owned(0);
    assert!(matches!(r, Err(Rejected::Full)), "{:?}", r.map(|_| ()));
    let s = b.fleet_stats().unwrap();
    assert_eq!((s.limit, s.limit_in_force), (3, 1));
    assert!(s.limit_mismatches >= 1);
    assert_eq!(s.busy, 1);
    drop(held);
}

/// Promise (`Fleet::flush`): "Waits until every release this process has
/// begun so far has been answered by Redis (or given up after a lease length
/// of retries)": with Redis gone it returns, about a lease later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_with_redis_gone_gives_up_after_about_a_lease() {
    let mut server = RedisServer::start();
    let g = fleet_group("r7_flush", &server, 2, OnUnreachable::Wait);
    let fleet = g.fleet().unwrap().clone();
    let lease = fleet.acquire().await.unwrap();
    server.stop();
    drop(lease);
    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(4), fleet.flush())
        .await
        .expect("flush gives up after a lease of retries");
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "it tried: {:?}",
        t0.elapsed()
    );
    let s = fleet.stats();
    assert_eq!((s.held, s.acquired, s.released), (0, 1, 1), "{s:?}");
}

/// Promise (`fleet`): "A call waiting for its lease holds its local slot
/// meanwhile, and counts as running"; (`Pool`) pausing, closing and scaling
/// down never touch running calls. So a call waiting for its lease goes on
/// through all three, runs once the lease frees, and `drained()` waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_close_and_scale_down_leave_a_call_waiting_for_its_lease_alone() {
    let server = RedisServer::start();
    let g = fleet_group("r7_pause", &server, 1, OnUnreachable::Wait);
    let other = other_client(g);
    let held = other.acquire().await.unwrap();
    let call = tokio::spawn(g.submit(0, async { 7 }));
    assert!(wait_until(Duration::from_secs(5), || g
        .fleet_stats()
        .unwrap()
        .waiting
        == 1));
    assert_eq!(g.stats().running, 1);
    g.pause();
    g.scale(-8);
    g.pool().close();
    let mut drained = Box::pin(g.pool().drained());
    assert!(futures::poll!(drained.as_mut()).is_pending());
    held.release().await;
    let out = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, Ok(7));
    tokio::time::timeout(Duration::from_secs(5), drained)
        .await
        .expect("drained");
    let s = g.stats();
    assert_eq!((s.completed, s.running, s.waiting), (1, 0, 0), "{s:?}");
    let fs = g.fleet_stats().unwrap();
    assert_eq!(
        (fs.held, fs.waiting, fs.acquired, fs.released),
        (0, 0, 1, 1),
        "{fs:?}"
    );
    assert_no_fleet_keys(&server, "r7_pause");
}

/// Promise (`Stats`): "`cancelled`: Calls dropped by their caller while
/// waiting or running"; "`completed`: Calls that ran to the end"; and
/// (`fleet`) a call or permit of a fleet group "waits for a lease once it
/// holds its local slot", so dropping it then is its caller giving up.
/// Catches: a group permit (`acquire`, `acquire_owned`, the tower layer's
/// waiting mode) dropped while it waited for its lease counted as
/// `completed`, where a `submit` or a blocking call dropped at the same
/// point is `cancelled`. Every path is also checked to leave the fleet's
/// queue (in Redis and in `FleetStats::waiting`) and to free its local slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_or_permit_dropped_while_waiting_for_its_lease_is_cancelled() {
    let server = RedisServer::start();
    let g = fleet_group("r7_cancel", &server, 1, OnUnreachable::Wait);
    let other = other_client(g);
    let held = other.acquire().await.unwrap();
    let paths = [
        "submit",
        "acquire",
        "acquire_owned",
        "submit_blocking",
        "submit_wait",
    ];
    for (n, path) in paths.iter().enumerate() {
        let h: tokio::task::JoinHandle<()> = match *path {
            "submit" => tokio::spawn(async move {
                let _ = g.submit(0, async {}).await;
            }),
            "acquire" => tokio::spawn(async move {
                let _ = g.acquire(0).await;
            }),
            "acquire_owned" => tokio::spawn(async move {
                let _ = g.acquire_owned(0).await;
            }),
            "submit_blocking" => tokio::spawn(async move {
                let _ = g.submit_blocking(0, || ()).await;
            }),
            _ => tokio::spawn(async move {
                g.submit_wait(0, async {}).await;
            }),
        };
        let queue = "{pooled:r7_cancel}:queue";
        assert!(
            wait_until(Duration::from_secs(5), || g.fleet_stats().unwrap().waiting
                == 1
                && zcard(&server, queue) == 1),
            "{path}: waits for its lease"
        );
        assert_eq!(g.stats().running, 1, "{path}: holding its local slot");
        h.abort();
        let _ = h.await;
        assert!(
            wait_until(Duration::from_secs(5), || g.fleet_stats().unwrap().waiting
                == 0
                && zcard(&server, queue) == 0),
            "{path}: left the fleet's queue"
        );
        let s = g.stats();
        assert_eq!(
            (s.running, s.waiting, s.completed, s.cancelled),
            (0, 0, 0, n as u64 + 1),
            "{path}: dropped by its caller, so cancelled: {s:?}"
        );
    }
    held.release().await;
    let fs = g.fleet_stats().unwrap();
    assert_eq!(
        (fs.held, fs.waiting, fs.acquired, fs.released),
        (0, 0, 0, 0),
        "{fs:?}"
    );
    // A permit that got its lease still completes when dropped.
    drop(g.acquire_owned(0).await.unwrap());
    let s = g.stats();
    assert_eq!((s.completed, s.cancelled), (1, paths.len() as u64), "{s:?}");
    g.fleet().unwrap().flush().await;
    assert_no_fleet_keys(&server, "r7_cancel");
}

/// Promise (`fleet`, **Redis unreachable** and **Sync calls**): with Redis
/// gone, a sync call under `reject` is turned away with `FleetUnavailable`
/// (in bounded time), under `local` runs (counted in `local_fallbacks`), and
/// under `wait` waits until Redis is back, then runs.
#[test]
fn sync_calls_with_redis_gone_follow_each_policy() {
    let mut server = RedisServer::start();
    let w = fleet_group("r7_sync_w", &server, 1, OnUnreachable::Wait);
    let r = fleet_group("r7_sync_r", &server, 1, OnUnreachable::Reject);
    let l = fleet_group("r7_sync_l", &server, 1, OnUnreachable::Local);
    assert_eq!(w.run(|| 1), Ok(1));
    assert_eq!(r.run(|| 1), Ok(1));
    assert_eq!(l.run(|| 1), Ok(1));
    server.stop();
    let t0 = Instant::now();
    assert_eq!(r.run(|| 1), Err(Rejected::FleetUnavailable));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(l.run(|| 2), Ok(2));
    assert_eq!(l.fleet_stats().unwrap().local_fallbacks, 1);
    let h = std::thread::spawn(move || w.run(|| 3));
    std::thread::sleep(Duration::from_millis(700));
    assert!(!h.is_finished(), "wait waits");
    server.restart();
    let t0 = Instant::now();
    while !h.is_finished() {
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(h.join().unwrap(), Ok(3));
    for g in [w, r, l] {
        let s = g.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        let fs = g.fleet_stats().unwrap();
        assert_eq!((fs.held, fs.waiting), (0, 0), "{fs:?}");
        assert_eq!(fs.acquired, fs.released, "{fs:?}");
    }
}
