//! Acceptance tests, round 15: the fleet limit over Redis (fencing tokens
//! across flushes and restarts, key expiry, the release channel, the
//! bounded poll fallback when a wake-up is never published, local order
//! under the fleet limit, `FleetStats`), test isolation (runtime tasks,
//! blocking jobs, threads outside the runtime, nested calls on rayon),
//! `spawn`/`SpawnHandle` (queue place, abort, detach, runtime shutdown,
//! later rejections), bad input at the edges (`MAX_SLOTS`, setters), and
//! streams racing pause/close/resize. Concurrency is counted from outside;
//! waits are bounded only to turn a hang into a failure.
#![cfg(feature = "tokio")]
// Helpers shared by modules that need features a partial build may lack.
#![cfg_attr(
    not(all(feature = "redis", feature = "stream", feature = "test-util")),
    allow(dead_code, unused_imports)
)]

use pool_runtime::{Order, Pool, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
#[allow(unused_imports)]
use common::{assert_accounted, runtime, within, Meter, Task};

/// Waits (bounded) on this thread until `cond` holds; fails if it never does.
#[track_caller]
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A flag to open, and work that waits (on tokio's timer) until it is.
fn gate() -> (
    impl std::future::Future<Output = ()> + Send + 'static,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = open.clone();
    (
        async move {
            while !flag.load(SeqCst) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        },
        open,
    )
}

/// As [`until`], from async code on tokio.
async fn until_async(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

// ---- fleet ------------------------------------------------------------------

#[cfg(feature = "redis")]
#[path = "redis_server/mod.rs"]
mod redis_server;

#[cfg(feature = "redis")]
mod fleet {
    use super::redis_server::*;
    use super::*;
    use pool_runtime::fleet::{token, OnUnreachable};

    fn group(
        name: &str,
        server: &RedisServer,
        local: usize,
        limit: usize,
        lease_ms: u64,
    ) -> &'static pool_runtime::Group {
        let url = leak(server.url());
        group_with(name, |spec| {
            spec.size(local)
                .fleet_limit(limit)
                .fleet_url(url)
                .fleet_lease(Duration::from_millis(lease_ms))
                .fleet_unreachable(OnUnreachable::Wait)
        })
    }

    fn flushall(server: &RedisServer) {
        let mut connection = server.connection().unwrap();
        let _: String = redis::cmd("FLUSHALL").query(&mut connection).unwrap();
    }

    /// `pooled::fleet`: "Every lease carries a token larger than every
    /// earlier lease's of the group (`Lease::token`, or `token()` inside a
    /// call's work) ... they keep growing after the keys are deleted or a
    /// Redis that kept no data restarts". And `token()` outside a fleet
    /// call's work is `None`; inside it is the call's lease's token.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fencing_tokens_grow_across_releases_a_flushall_and_a_restart() {
        let mut server = RedisServer::start();
        let g = group("a15_fence", &server, 4, 2, 1000);
        let other = other_client(g);
        let mut tokens = Vec::new();
        for step in 0..3 {
            let lease = tokio::time::timeout(Duration::from_secs(20), other.acquire())
                .await
                .expect("a lease in time")
                .expect("granted");
            tokens.push(lease.token().expect("a held lease has a token"));
            lease.release().await;
            if step == 0 {
                flushall(&server);
            } else if step == 1 {
                server.restart();
            }
        }
        assert_eq!(token(), None, "no token outside a fleet call");
        let inside = tokio::time::timeout(Duration::from_secs(20), g.submit(0, async { token() }))
            .await
            .expect("the call ran in time")
            .expect("admitted");
        tokens.push(inside.expect("a fleet call's work sees its token"));
        let permit = tokio::time::timeout(Duration::from_secs(20), g.acquire(0))
            .await
            .expect("in time")
            .expect("admitted");
        tokens.push(permit.lease().expect("a lease").token().expect("a token"));
        drop(permit);
        for pair in tokens.windows(2) {
            assert!(pair[0] < pair[1], "tokens must grow: {tokens:?}");
        }
    }

    /// `pooled::fleet`, keys and cleanup: "every write sets them to expire
    /// after three leases", "the channel `{pooled:NAME}:released`", "The
    /// last release with nobody waiting deletes them".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn held_keys_expire_within_three_leases_and_a_release_is_published() {
        let server = RedisServer::start();
        let g = group("a15_keys", &server, 4, 1, 1000);
        let other = other_client(g);
        // A subscriber of the documented channel, on a thread of its own.
        let url = server.url();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let client = redis::Client::open(url).unwrap();
            let mut connection = client.get_connection().unwrap();
            let mut pubsub = connection.as_pubsub();
            pubsub.subscribe("{pooled:a15_keys}:released").unwrap();
            pubsub
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            ready_tx.send(()).unwrap();
            if let Ok(message) = pubsub.get_message() {
                let _ = tx.send(message.get_channel_name().to_owned());
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let held = other.acquire().await.expect("granted");
        // A second call of the fleet waits, so the release has someone to wake.
        let waiting = tokio::spawn(g.submit(0, async {}));
        until_async("the call waits for its lease", || {
            g.fleet_stats().is_some_and(|s| s.waiting == 1)
        })
        .await;
        let keys = server.keys("{pooled:a15_keys}*");
        assert!(!keys.is_empty());
        let mut connection = server.connection().unwrap();
        for key in &keys {
            let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut connection).unwrap();
            assert!(
                ttl > 0 && ttl <= 3000,
                "key {key} must expire within three leases (3000 ms), PTTL {ttl}"
            );
        }
        held.release().await;
        let channel = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a release is announced on the channel");
        assert_eq!(channel, "{pooled:a15_keys}:released");
        tokio::time::timeout(Duration::from_secs(20), waiting)
            .await
            .expect("the waiter ran")
            .unwrap()
            .expect("admitted");
        let fleet = g.fleet().unwrap();
        tokio::time::timeout(Duration::from_secs(10), fleet.flush())
            .await
            .unwrap();
        assert_no_fleet_keys(&server, "a15_keys");
    }

    /// `pooled::fleet`, fairness: "a waiter also asks again at the nearest
    /// lease expiry and at least every third of a lease (with jitter), so a
    /// lost message costs it at most that". The holder's lease is removed
    /// from Redis behind everyone's back (no release is published): with a
    /// 60 s lease, the waiter must get in within a third of it (20 s), long
    /// before the lease would have expired (bounded at 45 s).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wake_up_never_published_costs_a_waiter_at_most_a_third_of_a_lease() {
        let server = RedisServer::start();
        let g = group("a15_poll", &server, 4, 1, 60_000);
        let other = other_client(g);
        let held = other.acquire().await.expect("granted");
        let token = held.token().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let waiting = tokio::spawn(g.submit(0, async move {
            counted.fetch_add(1, SeqCst);
        }));
        until_async("the call waits for its lease", || {
            g.fleet_stats().is_some_and(|s| s.waiting == 1)
        })
        .await;
        let mut connection = server.connection().unwrap();
        let removed: i64 = redis::cmd("ZREM")
            .arg("{pooled:a15_poll}:holders")
            .arg(token.to_string())
            .query(&mut connection)
            .unwrap();
        assert_eq!(removed, 1, "the holder's lease is in the documented key");
        let outcome = tokio::time::timeout(Duration::from_secs(45), waiting).await;
        assert!(
            outcome.is_ok(),
            "the waiter never asked again: no poll fallback within a third of a lease"
        );
        assert_eq!(ran.load(SeqCst), 1);
        std::mem::forget(held);
    }

    /// `pooled::fleet`: "The call takes its local slot first — the group's
    /// order (FIFO, LIFO, priority) still decides who goes next inside the
    /// process — then waits for a lease". A priority group of one local
    /// slot whose lease is held elsewhere: once the lease is free, the
    /// queued calls run by weight, not by arrival.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_priority_order_decides_inside_the_process_under_a_fleet_limit() {
        let server = RedisServer::start();
        let url = leak(server.url());
        let g = group_with("a15_order", |spec| {
            spec.size(1)
                .order(Order::Priority)
                .fleet_limit(1)
                .fleet_url(url)
                .fleet_lease(Duration::from_millis(1000))
        });
        let other = other_client(g);
        let held = other.acquire().await.expect("granted");
        let order = Arc::new(Mutex::new(Vec::new()));
        let call = |w: i64| {
            let order = order.clone();
            tokio::spawn(g.submit(w, async move {
                order.lock().unwrap().push(w);
            }))
        };
        let first = call(9);
        until_async(
            "the first call holds the slot and waits for a lease",
            || g.fleet_stats().is_some_and(|s| s.waiting == 1),
        )
        .await;
        let rest: Vec<_> = [5, 1, 3].into_iter().map(call).collect();
        until_async("three calls wait locally", || g.stats().waiting == 3).await;
        held.release().await;
        tokio::time::timeout(Duration::from_secs(20), first)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        for handle in rest {
            tokio::time::timeout(Duration::from_secs(20), handle)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [9, 1, 3, 5]);
    }

    /// `FleetStats`: `limit`, `limit_in_force`, `held`, `waiting`,
    /// `acquired`, `released` say what this process holds and waits for;
    /// and "A call waiting for its lease holds its local slot meanwhile,
    /// and counts as running in the group's `Stats`".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fleet_stats_follow_one_call_through_waiting_holding_and_release() {
        let server = RedisServer::start();
        let g = group("a15_stats", &server, 4, 1, 1000);
        let other = other_client(g);
        let held = other.acquire().await.expect("granted");
        let (open_gate, open) = gate();
        let call = tokio::spawn(g.submit(0, open_gate));
        until_async("the call waits for its lease", || {
            g.fleet_stats().is_some_and(|s| s.waiting == 1)
        })
        .await;
        let s = g.fleet_stats().unwrap();
        assert_eq!(
            (s.limit, s.held, s.acquired, s.released),
            (1, 0, 0, 0),
            "{s:?}"
        );
        assert_eq!(
            g.stats().running,
            1,
            "a call waiting for its lease counts as running"
        );
        held.release().await;
        until_async("the call holds its lease", || {
            g.fleet_stats().is_some_and(|s| s.held == 1)
        })
        .await;
        let s = g.fleet_stats().unwrap();
        assert_eq!(
            (s.waiting, s.acquired, s.limit_in_force),
            (0, 1, 1),
            "{s:?}"
        );
        open.store(true, SeqCst);
        tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let fleet = g.fleet().unwrap();
        tokio::time::timeout(Duration::from_secs(10), fleet.flush())
            .await
            .unwrap();
        let s = g.fleet_stats().unwrap();
        assert_eq!(
            (s.held, s.waiting, s.acquired, s.released, s.lost),
            (0, 0, 1, 1, 0),
            "{s:?}"
        );
    }

    /// The server's time in milliseconds (leases are timed by it).
    fn server_ms(server: &RedisServer) -> i64 {
        let mut connection = server.connection().unwrap();
        let (s, us): (i64, i64) = redis::cmd("TIME").query(&mut connection).unwrap();
        s * 1000 + us / 1000
    }

    /// `pooled::fleet`, permits: "`try_acquire` ... never wait for a
    /// lease: one Redis round trip, granted only if a lease is free now and
    /// no call of the fleet waits for one, otherwise `Rejected::Full`
    /// (counted in `FleetStats::busy`)". A lease freed behind the queue's
    /// back (its holder's entry removed, no release published) is free, but
    /// a call of another client waits for it: `try_acquire` must not jump
    /// the queue; the waiter gets it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn try_acquire_never_jumps_a_waiter_of_another_client_for_a_free_lease() {
        let server = RedisServer::start();
        let g = group("a15_nojump", &server, 4, 1, 60_000);
        let other = other_client(g);
        let held = other.acquire().await.expect("granted");
        let token = held.token().unwrap();
        let waiter_client = other_client(g);
        let waiter = tokio::spawn(async move {
            let lease = waiter_client.acquire().await;
            (lease.map(|l| l.token()), waiter_client)
        });
        until_async("the other client's call is queued in Redis", || {
            zcard(&server, "{pooled:a15_nojump}:queue") == 1
        })
        .await;
        let mut connection = server.connection().unwrap();
        let _: i64 = redis::cmd("ZREM")
            .arg("{pooled:a15_nojump}:holders")
            .arg(token.to_string())
            .query(&mut connection)
            .unwrap();
        let tried = tokio::task::spawn_blocking(move || g.try_acquire_owned(0).map(|_| ()))
            .await
            .unwrap();
        // The waiter queued in Redis is this test's premise. On a loaded
        // machine its client's patience with Redis (a second at most) may
        // run out on an attempt, and a client that takes Redis for
        // unreachable leaves the queue before it asks again: then nobody
        // waited when `try_acquire` asked, and a grant jumped nothing. That
        // case shows as an empty queue after a granted try *and* a Redis
        // error counted by the waiter's client; a grant any other way
        // jumped a waiter.
        let queued_after = zcard(&server, "{pooled:a15_nojump}:queue");
        if tried.is_ok() && queued_after == 0 {
            let (granted, client) = tokio::time::timeout(Duration::from_secs(45), waiter)
                .await
                .expect("the waiter got a lease in the end")
                .unwrap();
            assert!(granted.is_ok(), "{granted:?}");
            assert!(
                client.stats().redis_errors > 0,
                "try_acquire was granted while the waiter had not left the queue on its own: \
                 {:?}",
                client.stats()
            );
            eprintln!("inconclusive: the waiter's client gave up on Redis under load");
            std::mem::forget(held);
            return;
        }
        assert_eq!(
            tried,
            Err(Rejected::Full),
            "try_acquire jumped the fleet's queue"
        );
        assert_eq!(g.fleet_stats().unwrap().busy, 1);
        assert_eq!(
            g.stats().running,
            0,
            "the refused permit gave back its local slot"
        );
        let (granted, _client) = tokio::time::timeout(Duration::from_secs(45), waiter)
            .await
            .expect("the waiter got the free lease")
            .unwrap();
        assert!(matches!(granted, Ok(Some(t)) if t > token), "{granted:?}");
        std::mem::forget(held);
    }

    static ENV_FLEET: pool_runtime::Group =
        pool_runtime::Group::new(pool_runtime::GroupSpec::new("a15::envfleet").size(3));
    #[cfg(feature = "config")]
    pool_runtime::register_group!(ENV_FLEET);

    /// README, fleet limits: "The same keys work in `#[pooled(...)]`, on
    /// `GroupSpec`/`GroupSettings`, and as `POOLED_<GROUP>_FLEET_LIMIT`
    /// etc." A group declared without a fleet gets one from its variables
    /// alone (limit, URL, lease, policy), and its calls hold leases.
    #[cfg(feature = "config")]
    #[test]
    fn every_fleet_key_works_as_a_variable() {
        let server = (!common::is_child_process()).then(RedisServer::start);
        let url = server.as_ref().map(|s| s.url()).unwrap_or_default();
        common::in_child_process(
            "fleet::every_fleet_key_works_as_a_variable",
            &[
                (b"POOLED_A15__ENVFLEET_FLEET_LIMIT", b"1"),
                (b"POOLED_A15__ENVFLEET_FLEET_URL", url.as_bytes()),
                (b"POOLED_A15__ENVFLEET_FLEET_LEASE", b"2s"),
                (b"POOLED_A15__ENVFLEET_FLEET_UNREACHABLE", b"reject"),
            ],
            || {
                let settings = ENV_FLEET.settings().fleet;
                assert_eq!(settings.limit, Some(1));
                assert_eq!(settings.lease, Duration::from_secs(2));
                assert_eq!(settings.unreachable, OnUnreachable::Reject);
                assert!(settings
                    .url
                    .is_some_and(|u| u.starts_with("redis://127.0.0.1:")));
                let rt = runtime();
                rt.block_on(async {
                    let t = ENV_FLEET.submit(0, async { token() }).await;
                    assert!(matches!(t, Ok(Some(_))), "{t:?}");
                    let fleet = ENV_FLEET.fleet().expect("a fleet from the variables");
                    tokio::time::timeout(Duration::from_secs(10), fleet.flush())
                        .await
                        .unwrap();
                    let s = ENV_FLEET.fleet_stats().unwrap();
                    assert_eq!((s.limit, s.acquired, s.released), (1, 1, 1), "{s:?}");
                });
            },
        );
        if let Some(server) = server {
            assert_no_fleet_keys(&server, "a15::envfleet");
        }
    }

    /// `observe`: `pooled.fleet.limit` is "the fleet limit in force in
    /// Redis", `pooled.fleet.held` the leases this process holds. A process
    /// configured with 3 whose fleet stored 1 reports 1 as the limit, as
    /// `FleetStats::limit_in_force` does.
    #[cfg(feature = "metrics")]
    #[test]
    fn the_limit_gauge_is_the_limit_in_force_not_the_configured_one() {
        let server = (!common::is_child_process()).then(RedisServer::start);
        let url = server.as_ref().map(|s| s.url()).unwrap_or_default();
        common::in_child_process(
            "fleet::the_limit_gauge_is_the_limit_in_force_not_the_configured_one",
            &[(b"A15_URL", url.as_bytes())],
            || {
                let capture: &'static common::Capture = Box::leak(Box::default());
                metrics::set_global_recorder(capture).expect("the only recorder");
                let url = leak(std::env::var("A15_URL").unwrap());
                let one = group_with("a15_gauge", |spec| {
                    spec.size(2).fleet_limit(1).fleet_url(url)
                });
                let three = group_with("a15_gauge", |spec| {
                    spec.size(2).fleet_limit(3).fleet_url(url)
                });
                runtime().block_on(async {
                    let held = one.acquire_owned(0).await.unwrap();
                    let tried = three.try_acquire_owned(0).map(|_| ());
                    assert_eq!(tried, Err(Rejected::Full));
                    let s = three.fleet_stats().unwrap();
                    assert_eq!((s.limit, s.limit_in_force), (3, 1), "{s:?}");
                    // Both groups report under the one name, each the
                    // limit in force (1), never the configured 3.
                    let limit = capture.gauge("pooled.fleet.limit", "a15_gauge");
                    assert_eq!(
                        limit,
                        Some(1.0),
                        "pooled.fleet.limit (3 is the configured limit, not the one in force)"
                    );
                    assert_eq!(capture.gauge("pooled.fleet.held", "a15_gauge"), Some(1.0));
                    drop(held);
                });
            },
        );
    }

    /// `pooled::fleet`, fairness: "A waiter that stops asking (its process
    /// died) leaves the queue after one lease." A dead process's waiter at
    /// the head of the queue (written as the scripts write one: a ticket in
    /// `queue`, a deadline one lease ahead in `alive`) must not keep a free
    /// lease from a live call for longer than that.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_processs_waiter_leaves_the_queue_after_one_lease() {
        let server = RedisServer::start();
        let g = group("a15_ghost", &server, 4, 1, 1000);
        let mut connection = server.connection().unwrap();
        let now = server_ms(&server);
        let _: () = redis::pipe()
            .cmd("SET")
            .arg("{pooled:a15_ghost}:limit")
            .arg(1)
            .ignore()
            .cmd("SET")
            .arg("{pooled:a15_ghost}:ticket")
            .arg(1)
            .ignore()
            .cmd("ZADD")
            .arg("{pooled:a15_ghost}:queue")
            .arg(1)
            .arg("ghost")
            .ignore()
            .cmd("ZADD")
            .arg("{pooled:a15_ghost}:alive")
            .arg(now + 1000)
            .arg("ghost")
            .ignore()
            .query(&mut connection)
            .unwrap();
        let out = tokio::time::timeout(Duration::from_secs(15), g.submit(0, async { token() }))
            .await
            .expect("the live call got the lease once the dead waiter left the queue");
        assert!(matches!(out, Ok(Some(_))), "{out:?}");
        assert_eq!(zcard(&server, "{pooled:a15_ghost}:queue"), 0);
    }

    /// `pooled::fleet`: a holder that dies "stops renewing: its leases
    /// expire and the next acquire anywhere removes them"; `FleetStats::
    /// reclaimed`: "Expired leases (of any process) that this process's
    /// acquires removed"; fairness: "a waiter also asks again at the nearest
    /// lease expiry". A dead holder's lease (written as the scripts write
    /// one) expires half a second from now; with a 60 s lease (a third: 20
    /// s) the waiting call must get in at that expiry, well within 15 s,
    /// and count the reclaimed lease.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_holders_lease_is_reclaimed_at_its_expiry_by_a_waiter() {
        let server = RedisServer::start();
        let g = group("a15_reclaim", &server, 4, 1, 60_000);
        let now = server_ms(&server);
        let mut connection = server.connection().unwrap();
        let _: () = redis::pipe()
            .cmd("SET")
            .arg("{pooled:a15_reclaim}:limit")
            .arg(1)
            .ignore()
            .cmd("ZADD")
            .arg("{pooled:a15_reclaim}:holders")
            .arg(now + 500)
            .arg("12345")
            .ignore()
            .query(&mut connection)
            .unwrap();
        let out = tokio::time::timeout(Duration::from_secs(15), g.submit(0, async { token() }))
            .await
            .expect("the waiter asked again at the dead lease's expiry");
        assert!(matches!(out, Ok(Some(t)) if t > 12345), "{out:?}");
        assert_eq!(g.fleet_stats().unwrap().reclaimed, 1);
    }

    /// `pooled::fleet`, one limit: "The limit is stored in Redis by the
    /// first process that needs it (while any lease is held or call
    /// waits)": once the fleet is idle and its keys are gone, a process
    /// with another limit stores its own, and sees no mismatch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stored_limit_lasts_while_the_fleet_is_busy_and_no_longer() {
        let server = RedisServer::start();
        let one = group("a15_relimit", &server, 4, 1, 1000);
        let url = leak(server.url());
        let three = group_with("a15_relimit", |spec| {
            spec.size(4)
                .fleet_limit(3)
                .fleet_url(url)
                .fleet_lease(Duration::from_millis(1000))
        });
        let held = other_client(one).acquire().await.expect("granted");
        // While the fleet is busy, the group configured with 3 follows 1.
        let tried = three.try_acquire(0);
        assert!(matches!(tried, Err(Rejected::Full)), "{tried:?}");
        let s = three.fleet_stats().unwrap();
        assert_eq!((s.limit, s.limit_in_force), (3, 1), "{s:?}");
        assert!(s.limit_mismatches >= 1, "{s:?}");
        held.release().await;
        assert_no_fleet_keys(&server, "a15_relimit");
        let mismatches = three.fleet_stats().unwrap().limit_mismatches;
        let permits: Vec<_> = (0..3)
            .map(|_| {
                three
                    .try_acquire(0)
                    .expect("three leases under its own limit")
            })
            .collect();
        let s = three.fleet_stats().unwrap();
        assert_eq!((s.limit_in_force, s.held), (3, 3), "{s:?}");
        assert_eq!(
            s.limit_mismatches, mismatches,
            "no mismatch once its own limit is stored"
        );
        drop(permits);
    }

    fn policy_group(
        name: &str,
        server: &RedisServer,
        policy: OnUnreachable,
    ) -> &'static pool_runtime::Group {
        let url = leak(server.url());
        group_with(name, |spec| {
            spec.size(4)
                .fleet_limit(2)
                .fleet_url(url)
                .fleet_lease(Duration::from_millis(1000))
                .fleet_unreachable(policy)
        })
    }

    /// `pooled::fleet`, Redis unreachable: "`reject` turns the call away
    /// with `Rejected::FleetUnavailable` (a never-rejecting call waits
    /// instead)". With Redis gone, `submit_wait` and `run_wait` of a
    /// `reject` group wait (they try, and fail, to reach Redis) and, once it
    /// is back, run under a lease of their own (a token), not under the
    /// local limit alone; a rejecting call meanwhile is turned away.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_rejecting_calls_of_a_reject_group_wait_for_redis_and_then_hold_a_lease() {
        let mut server = RedisServer::start();
        let g = policy_group("a15_reject_wait", &server, OnUnreachable::Reject);
        assert_eq!(
            g.submit(0, async { 1 }).await,
            Ok(1),
            "started while Redis answers"
        );
        server.stop();
        let errors = g.fleet_stats().unwrap().redis_errors;
        let asynchronous = tokio::spawn(g.submit_wait(0, async { token() }));
        let sync = tokio::task::spawn_blocking(move || g.run_wait(0, token));
        until_async("both calls found Redis unreachable", || {
            g.fleet_stats().unwrap().redis_errors >= errors + 2
        })
        .await;
        assert_eq!(
            g.submit(0, async {}).await,
            Err(Rejected::FleetUnavailable),
            "a rejecting call is turned away meanwhile"
        );
        assert!(
            !asynchronous.is_finished() && !sync.is_finished(),
            "never-rejecting calls wait"
        );
        server.restart();
        let a = tokio::time::timeout(Duration::from_secs(20), asynchronous)
            .await
            .expect("the async call ran once Redis was back")
            .unwrap();
        let b = tokio::time::timeout(Duration::from_secs(20), sync)
            .await
            .expect("the sync call ran once Redis was back")
            .unwrap();
        assert!(
            a.is_some() && b.is_some(),
            "they ran under leases: {a:?} {b:?}"
        );
        let s = g.fleet_stats().unwrap();
        assert_eq!(s.local_fallbacks, 0, "{s:?}");
    }

    /// `Stats::rejected_for`: "The fleet's reasons (`FleetUnavailable`,
    /// `LeaseLost`) are always 0 here: ... the pool counts that call by how
    /// its slot ended — `completed` for an async call or a permit,
    /// `cancelled` for a blocking call turned away before its closure ran.
    /// The fleet counts them itself (`FleetStats::rejected_unavailable`)".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_the_fleet_turns_away_are_counted_as_documented() {
        let mut server = RedisServer::start();
        let g = policy_group("a15_reject_counts", &server, OnUnreachable::Reject);
        assert_eq!(g.submit(0, async {}).await, Ok(()));
        server.stop();
        let before = g.stats();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        assert_eq!(
            g.submit(0, async move {
                r.fetch_add(1, SeqCst);
            })
            .await,
            Err(Rejected::FleetUnavailable)
        );
        let r = ran.clone();
        assert_eq!(
            g.submit_blocking(0, move || {
                r.fetch_add(1, SeqCst);
            })
            .await,
            Err(Rejected::FleetUnavailable)
        );
        assert!(matches!(
            g.acquire(0).await,
            Err(Rejected::FleetUnavailable)
        ));
        let r = ran.clone();
        let sync = tokio::task::spawn_blocking(move || {
            g.run(move || {
                r.fetch_add(1, SeqCst);
            })
        })
        .await
        .unwrap();
        assert_eq!(sync, Err(Rejected::FleetUnavailable));
        assert_eq!(ran.load(SeqCst), 0, "a call turned away never ran");
        let after = g.stats();
        assert_eq!(after.rejected_for(Rejected::FleetUnavailable), 0);
        assert_eq!(after.rejected_total(), before.rejected_total());
        assert_eq!(
            (after.completed - before.completed) + (after.cancelled - before.cancelled),
            4,
            "{after:?}"
        );
        assert_eq!(
            after.cancelled - before.cancelled,
            1,
            "the blocking call: {after:?}"
        );
        assert_eq!((after.running, after.waiting), (0, 0));
        assert_accounted(&after);
        assert_eq!(g.fleet_stats().unwrap().rejected_unavailable, 4);
    }

    /// `pooled::fleet`: "Scripts are re-sent after `NOSCRIPT`." A Redis
    /// whose script cache is flushed (a failover, `SCRIPT FLUSH`) but which
    /// kept its data has lost no lease: renewals reload the scripts and go
    /// on, nothing is counted lost, the call ends `Ok`, and no other client
    /// gets the only lease meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flushed_script_cache_loses_no_lease() {
        let server = RedisServer::start();
        let g = group("a15_noscript", &server, 4, 1, 300);
        let other = other_client(g);
        let (open_gate, open) = gate();
        let call = tokio::spawn(g.submit(0, open_gate));
        until_async("the call holds its lease", || {
            g.fleet_stats().is_some_and(|s| s.held == 1)
        })
        .await;
        let mut contender = Box::pin(other.acquire());
        let mut connection = server.connection().unwrap();
        for _ in 0..10 {
            let _: String = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query(&mut connection)
                .unwrap();
            let got = tokio::time::timeout(Duration::from_millis(300), &mut contender).await;
            assert!(got.is_err(), "another client got the only lease");
        }
        let s = g.fleet_stats().unwrap();
        assert_eq!((s.lost, s.held), (0, 1), "{s:?}");
        open.store(true, SeqCst);
        let outcome = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome, Ok(()));
        let lease = tokio::time::timeout(Duration::from_secs(20), contender)
            .await
            .expect("the contender gets the lease once released")
            .expect("granted");
        lease.release().await;
    }

    /// `pooled::fleet`: "Leases held while Redis is away keep being renewed
    /// once it is back within their length". Redis itself stays up; the
    /// library's connections (commands and pub/sub) are killed once per
    /// lease (`CLIENT KILL`), as a proxy or a failover would drop them: each
    /// time Redis is back at once, so the holder renews, loses nothing and
    /// keeps the only lease; and a waiter still gets it when it is released
    /// (its wake-up channel was cut too).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_connections_lose_no_lease_and_miss_no_wake_up_for_long() {
        let server = RedisServer::start();
        let g = group("a15_killed", &server, 4, 1, 3000);
        let other = other_client(g);
        let (open_gate, open) = gate();
        let call = tokio::spawn(g.submit(0, open_gate));
        until_async("the call holds its lease", || {
            g.fleet_stats().is_some_and(|s| s.held == 1)
        })
        .await;
        let mut contender = Box::pin(other.acquire());
        for _ in 0..4 {
            let mut connection = server.connection().unwrap();
            for kind in ["normal", "pubsub"] {
                let _: i64 = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg(kind)
                    .arg("SKIPME")
                    .arg("yes")
                    .query(&mut connection)
                    .unwrap();
            }
            let got = tokio::time::timeout(Duration::from_millis(3000), &mut contender).await;
            assert!(got.is_err(), "another client got the only lease");
        }
        let s = g.fleet_stats().unwrap();
        assert_eq!((s.lost, s.held), (0, 1), "{s:?}");
        open.store(true, SeqCst);
        let outcome = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome, Ok(()), "the call kept its lease");
        let lease = tokio::time::timeout(Duration::from_secs(20), contender)
            .await
            .expect("the contender gets the lease once released")
            .expect("granted");
        lease.release().await;
    }

    /// `pooled::fleet`, permits: "with Redis unreachable,
    /// `Rejected::FleetUnavailable` under `wait` and `reject`, the local
    /// slot alone under `local`" (for `try_acquire`); and a waiting
    /// `acquire` follows the policy as every rejecting call does:
    /// `FleetUnavailable` under `reject`, a permit whose lease has no token
    /// (`Lease::token`: "`None` for a call that runs under the local limit
    /// alone") under `local` (counted in `local_fallbacks`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn permits_follow_each_unreachable_policy() {
        let mut server = RedisServer::start();
        let reject = policy_group("a15_permit_reject", &server, OnUnreachable::Reject);
        let local = policy_group("a15_permit_local", &server, OnUnreachable::Local);
        let wait = policy_group("a15_permit_wait", &server, OnUnreachable::Wait);
        for g in [reject, local, wait] {
            let permit = g.acquire(0).await.unwrap();
            assert!(permit.lease().is_some());
        }
        server.stop();
        let tried = tokio::task::spawn_blocking(move || {
            (
                reject.try_acquire(0).err(),
                wait.try_acquire(0).err(),
                local
                    .try_acquire(0)
                    .map(|p| p.lease().and_then(|l| l.token()).is_none()),
            )
        })
        .await
        .unwrap();
        assert_eq!(
            tried,
            (
                Some(Rejected::FleetUnavailable),
                Some(Rejected::FleetUnavailable),
                Ok(true)
            )
        );
        let out = tokio::time::timeout(Duration::from_secs(20), reject.acquire(0))
            .await
            .expect("bounded");
        assert!(matches!(out, Err(Rejected::FleetUnavailable)), "{out:?}");
        let permit = tokio::time::timeout(Duration::from_secs(20), local.acquire_owned(0))
            .await
            .expect("bounded")
            .expect("the local limit alone");
        assert_eq!(
            permit.lease().and_then(|l| l.token()),
            None,
            "no token: no lease"
        );
        assert_eq!(local.fleet_stats().unwrap().local_fallbacks, 2);
        drop(permit);
        for g in [reject, local, wait] {
            let s = g.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{}: {s:?}", g.name());
        }
    }

    /// `pooled::fleet`: "A lease lasts `fleet_lease` ... and is renewed
    /// every third of that in the background." A call running for many
    /// lease lengths keeps its lease: nothing is lost, and another client
    /// of a fleet of one never gets in while it runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_running_for_many_leases_keeps_its_lease_by_renewal() {
        let server = RedisServer::start();
        let g = group("a15_renew", &server, 4, 1, 300);
        let other = other_client(g);
        let (open_gate, open) = gate();
        let call = tokio::spawn(g.submit(0, open_gate));
        until_async("the call holds its lease", || {
            g.fleet_stats().is_some_and(|s| s.held == 1)
        })
        .await;
        let mut contender = Box::pin(other.acquire());
        // Ten lease lengths: without renewal the lease would expire and the
        // contender would take it.
        let got = tokio::time::timeout(Duration::from_millis(3000), &mut contender).await;
        assert!(
            got.is_err(),
            "another client got the only lease while it was held"
        );
        assert_eq!(g.fleet_stats().unwrap().lost, 0);
        open.store(true, SeqCst);
        let outcome = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome, Ok(()), "the call kept its lease to the end");
        let lease = tokio::time::timeout(Duration::from_secs(20), contender)
            .await
            .expect("the contender gets the lease once released")
            .expect("granted");
        lease.release().await;
    }
}

// ---- test isolation ---------------------------------------------------------

#[cfg(feature = "test-util")]
mod isolation {
    use super::*;
    use pool_runtime::{register_group, Group, GroupSpec};

    static RT: Group = Group::new(GroupSpec::new("a15::iso_runtime").size(2));
    static PLAIN: Group = Group::new(GroupSpec::new("a15::iso_plain").size(1));
    static LISTED: Group = Group::new(GroupSpec::new("a15::iso_listed").size(2));
    register_group!(LISTED);

    /// README: "made inside a tokio runtime (`#[tokio::test]`), the calls
    /// made in that runtime, its tasks and blocking jobs included"; the
    /// `Isolation` docs: "Calls from elsewhere — other tests, threads the
    /// test starts outside its runtime — keep using the shared pool."
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_runtimes_tasks_and_blocking_jobs_are_isolated_and_outside_threads_are_not() {
        let mine = RT.isolate();
        let instance: &'static Pool = mine.pool();
        let shared_before = std::thread::spawn(|| RT.stats().completed).join().unwrap();
        // A task of the runtime, and a blocking job of it.
        let in_task = tokio::spawn(async move {
            RT.submit(0, async {}).await.unwrap();
            std::ptr::eq(RT.pool(), instance)
        })
        .await
        .unwrap();
        let in_blocking = tokio::task::spawn_blocking(move || {
            RT.run(|| ()).unwrap();
            std::ptr::eq(RT.pool(), instance)
        })
        .await
        .unwrap();
        assert!(in_task, "a task of the test's runtime is the test's");
        assert!(
            in_blocking,
            "a blocking job of the test's runtime is the test's"
        );
        assert_eq!(instance.stats().completed, 2);
        // A plain thread started by the test, outside its runtime.
        let (outside_is_shared, shared_after) = std::thread::spawn(move || {
            RT.run(|| ()).unwrap();
            (!std::ptr::eq(RT.pool(), instance), RT.stats().completed)
        })
        .join()
        .unwrap();
        assert!(
            outside_is_shared,
            "a thread outside the runtime uses the shared pool"
        );
        assert_eq!(
            shared_after,
            shared_before + 1,
            "only that thread's call reached it"
        );
        assert_eq!(instance.stats().completed, 2);
    }

    /// `Isolation`: "Wherever it runs, a call nested in the work of a call
    /// the instance admitted (a blocking job ..., or on a thread of its own
    /// outside a runtime) is the test's too." A plain test's blocking call
    /// (outside any runtime, so on a thread of its own) calls the group
    /// again from its closure: the nested call runs in the instance, under
    /// its parent's slot (a limit of 1 would deadlock otherwise).
    #[test]
    fn a_call_nested_in_a_plain_tests_blocking_job_is_the_tests() {
        within(Duration::from_secs(20), || {
            let mine = PLAIN.isolate();
            let instance: &'static Pool = mine.pool();
            let nested = futures::executor::block_on(PLAIN.submit_blocking(0, move || {
                let inner = PLAIN.run(|| 7);
                (std::ptr::eq(PLAIN.pool(), instance), inner)
            }));
            assert_eq!(nested, Ok((true, Ok(7))));
            let stats = instance.stats();
            assert_eq!(stats.completed, 2, "{stats:?}");
            drop(mine);
        });
    }

    /// `Isolation`: "Listing ([`groups`]), [`Group::settings`] and
    /// configuration reloads see the shared pool." An isolated, paused and
    /// busy instance does not show in `groups()`' stats of the group.
    #[test]
    fn groups_listing_shows_the_shared_pool_not_the_tests_instance() {
        within(Duration::from_secs(20), || {
            // Start the shared pool, from a thread no isolation covers.
            std::thread::spawn(|| LISTED.run(|| ()).unwrap())
                .join()
                .unwrap();
            let shared = |list: Vec<pool_runtime::GroupInfo>| {
                list.into_iter()
                    .find(|g| g.name == "a15::iso_listed")
                    .expect("listed")
                    .stats
                    .expect("started")
            };
            let before = shared(pool_runtime::groups());
            let mine = LISTED.isolate();
            for _ in 0..3 {
                LISTED.run(|| ()).unwrap();
            }
            LISTED.pause();
            LISTED.resize(7);
            let listed = shared(pool_runtime::groups());
            assert!(!listed.paused, "the listing shows the instance's pause");
            assert_eq!(
                listed.size, before.size,
                "the listing shows the instance's size"
            );
            assert_eq!(
                listed.completed, before.completed,
                "the listing counts the instance's calls"
            );
            assert_eq!(LISTED.settings().starting_size(), 2);
            assert!(mine.pool().is_paused());
            drop(mine);
            assert!(!LISTED.is_paused());
        });
    }
}

#[cfg(all(feature = "test-util", feature = "config"))]
mod isolation_and_configuration {
    use super::*;
    use pool_runtime::{config, register_group, Group, GroupSpec};

    static TUNED: Group = Group::new(GroupSpec::new("a15::iso_tuned").size(2));
    register_group!(TUNED);

    /// `Group::isolate`: "a fresh pool with the group's effective
    /// settings"; `Isolation`: "configuration reloads see the shared pool".
    /// An isolation made after a load starts at the loaded size; a reload
    /// made while it is in force resizes the shared pool, not the instance.
    #[test]
    fn an_instance_starts_from_the_loaded_settings_and_reloads_leave_it_alone() {
        common::in_child_process(
            "isolation_and_configuration::an_instance_starts_from_the_loaded_settings_and_reloads_leave_it_alone",
            &[],
            || {
                config::load_str("app.toml", "[groups.\"a15::iso_tuned\"]\nsize = 5\n").unwrap();
                let mine = TUNED.isolate();
                assert_eq!(mine.pool().size(), 5, "the instance has the effective size");
                let shared = std::thread::spawn(|| {
                    TUNED.run(|| ()).unwrap();
                    TUNED.size()
                })
                .join()
                .unwrap();
                assert_eq!(shared, 5);
                config::load_str("app.toml", "[groups.\"a15::iso_tuned\"]\nsize = 7\n").unwrap();
                assert_eq!(TUNED.size(), 5, "the test's instance is not reloaded");
                let shared = std::thread::spawn(|| TUNED.size()).join().unwrap();
                assert_eq!(shared, 7, "the shared pool is");
                drop(mine);
                assert_eq!(TUNED.size(), 7);
            },
        );
    }

    /// Streams over an isolated group go to the test's instance (they are
    /// calls through the group): a paused instance turns them away while
    /// the shared pool stays open.
    #[cfg(feature = "stream")]
    #[test]
    fn a_stream_over_an_isolated_group_uses_the_tests_instance() {
        use futures::StreamExt;
        use pool_runtime::PooledStreamExt;
        static STREAMED: Group = Group::new(GroupSpec::new("a15::iso_streamed").size(2));
        let mine = STREAMED.isolate();
        STREAMED.pause();
        let out: Vec<_> = futures::executor::block_on(
            futures::stream::iter(0..3)
                .map(|i| async move { i })
                .pooled_ordered(&STREAMED)
                .collect(),
        );
        assert_eq!(out, [Err(Rejected::Paused); 3]);
        assert_eq!(mine.pool().stats().rejected_for(Rejected::Paused), 3);
        drop(mine);
        let out: Vec<_> = futures::executor::block_on(
            futures::stream::iter(0..3)
                .map(|i| async move { i })
                .pooled_ordered(&STREAMED)
                .collect(),
        );
        assert_eq!(out, [Ok(0), Ok(1), Ok(2)]);
    }
}

// ---- bad input and edges ------------------------------------------------------

mod edges {
    use super::*;
    use pool_runtime::{BuildError, Kind, MAX_SLOTS};

    /// `BuildError::TooLarge`: "A slot count above [`MAX_SLOTS`]", with its
    /// message; `MAX_SLOTS` itself builds, for `size` and for `max`.
    #[test]
    fn max_slots_builds_and_one_more_is_too_large_with_its_message() {
        let pool = Pool::builder()
            .size(MAX_SLOTS)
            .build()
            .expect("MAX_SLOTS builds");
        assert_eq!(pool.size(), MAX_SLOTS);
        let err = Pool::builder().size(MAX_SLOTS + 1).build().unwrap_err();
        assert_eq!(
            err,
            BuildError::TooLarge {
                value: MAX_SLOTS + 1
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "slot count {} is above the maximum of {MAX_SLOTS}",
                MAX_SLOTS + 1
            )
        );
        let auto = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(MAX_SLOTS)
            .build()
            .expect("max = MAX_SLOTS builds");
        assert_eq!(auto.bounds(), (1, MAX_SLOTS));
        let err = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(usize::MAX)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, BuildError::TooLarge { value } if value == usize::MAX),
            "{err:?}"
        );
        let err = Pool::builder().size(0).build().unwrap_err();
        assert_eq!(err, BuildError::ZeroSize);
        assert_eq!(err.to_string(), "a fixed pool needs `size` >= 1");
    }

    /// `Pool::scale`: "clamped to `[0, MAX_SLOTS]` for fixed pools and
    /// `[min, max]` for autoscaled ones", at the extremes of `isize` and
    /// `usize`, without overflow or panic.
    #[test]
    fn scale_and_resize_clamp_at_the_extremes() {
        let pool = Pool::fixed(3);
        assert_eq!(pool.scale(isize::MAX), MAX_SLOTS);
        assert_eq!(pool.scale(isize::MAX), MAX_SLOTS);
        assert_eq!(pool.scale(isize::MIN), 0);
        assert_eq!(pool.scale(isize::MIN), 0);
        assert_eq!(pool.resize(usize::MAX), MAX_SLOTS);
        assert_eq!(pool.resize(0), 0);
        assert_eq!(pool.scale(1), 1);
        let auto = Pool::builder()
            .kind(Kind::Autoscale)
            .min(2)
            .max(5)
            .build()
            .unwrap();
        assert_eq!(auto.scale(isize::MAX), 5);
        assert_eq!(auto.scale(isize::MIN), 2);
        assert_eq!(auto.resize(usize::MAX), 5);
        assert_eq!(auto.resize(0), 2);
        // The limit is the one it reports: two run, a third waits.
        auto.resize(2);
        let a = auto.try_acquire().unwrap();
        let b = auto.try_acquire().unwrap();
        assert_eq!(auto.try_acquire().unwrap_err(), Rejected::Full);
        drop((a, b));
    }

    /// `GroupSettings::clamped` (what a group starts with): "every value a
    /// pool could not take brought into range — sizes to `1..=MAX_SLOTS`,
    /// `min` to `max`, `max_waiting` to `MAX_SLOTS`, the autoscale window to
    /// `1..=MAX_WINDOW` ... a hand-written declaration may still carry them,
    /// and a group then starts rather than failing at its first call";
    /// `GROUP.settings().check()` still reports the error.
    #[test]
    fn a_hand_written_group_with_bad_values_starts_clamped_and_check_reports_them() {
        use pool_runtime::{Group, GroupSpec};
        static ZERO: Group = Group::new(GroupSpec::new("a15::bad_zero").size(0));
        static HUGE: Group = Group::new(
            GroupSpec::new("a15::bad_huge")
                .size(MAX_SLOTS + 1)
                .max_waiting(usize::MAX),
        );
        static CROSSED: Group = Group::new(
            GroupSpec::new("a15::bad_crossed")
                .kind(Kind::Autoscale)
                .min(5)
                .max(3)
                .autoscale_window(0),
        );
        static WIDE: Group = Group::new(
            GroupSpec::new("a15::bad_wide")
                .kind(Kind::Autoscale)
                .min(1)
                .max(4)
                .autoscale_window(usize::MAX),
        );
        assert_eq!(ZERO.settings().check().err(), Some(BuildError::ZeroSize));
        assert_eq!(ZERO.run(|| 1), Ok(1));
        assert_eq!(ZERO.size(), 1);
        assert!(HUGE.settings().check().is_err());
        assert_eq!(HUGE.run(|| 2), Ok(2));
        assert_eq!(HUGE.size(), MAX_SLOTS);
        assert_eq!(HUGE.pool().max_waiting(), Some(MAX_SLOTS));
        assert!(CROSSED.settings().check().is_err());
        assert_eq!(CROSSED.run(|| 3), Ok(3));
        assert_eq!(CROSSED.pool().bounds(), (3, 3));
        assert_eq!(CROSSED.size(), 3);
        assert!(WIDE.settings().check().is_err());
        assert_eq!(WIDE.run(|| 4), Ok(4));
        assert_eq!(WIDE.pool().bounds(), (1, 4));
    }

    /// `Pool::set_bounds`: errors "checked as `PoolBuilder::build` checks
    /// them, and a refused change changes nothing": `BoundsOnFixedPool`,
    /// `ZeroMax`, `MinAboveMax`, `TooLarge`; an accepted one clamps the
    /// size into the new bounds and returns it.
    #[test]
    fn set_bounds_refuses_each_bad_pair_and_changes_nothing() {
        let fixed = Pool::fixed(3);
        assert_eq!(fixed.set_bounds(1, 2), Err(BuildError::BoundsOnFixedPool));
        assert_eq!(fixed.size(), 3);
        let auto = Pool::builder()
            .kind(Kind::Autoscale)
            .min(2)
            .max(6)
            .size(4)
            .build()
            .unwrap();
        for (min, max, want) in [
            (0, 0, BuildError::ZeroMax),
            (5, 3, BuildError::MinAboveMax { min: 5, max: 3 }),
            (
                1,
                MAX_SLOTS + 1,
                BuildError::TooLarge {
                    value: MAX_SLOTS + 1,
                },
            ),
        ] {
            assert_eq!(auto.set_bounds(min, max), Err(want), "({min}, {max})");
            assert_eq!(
                (auto.bounds(), auto.size()),
                ((2, 6), 4),
                "a refused change changed something"
            );
        }
        assert_eq!(
            auto.set_bounds(5, 8),
            Ok(5),
            "the size is clamped into the new bounds"
        );
        assert_eq!(auto.bounds(), (5, 8));
        assert_eq!(auto.set_bounds(1, 3), Ok(3));
        assert_eq!(auto.set_bounds(0, MAX_SLOTS), Ok(3));
    }

    /// `Pool::set_max_waiting`: `Some(0)` means run now or `Full`;
    /// `MAX_SLOTS` is accepted, one more is `OutOfRange` and changes
    /// nothing; `None` removes the bound.
    #[test]
    fn set_max_waiting_at_its_edges() {
        let pool = Pool::fixed(1);
        pool.set_max_waiting(Some(0)).unwrap();
        let held = pool.try_acquire().unwrap();
        let mut waiting = Task::new(pool.submit(async {}));
        assert_eq!(waiting.assert_ready(), Err(Rejected::Full));
        pool.set_max_waiting(Some(MAX_SLOTS)).unwrap();
        assert!(matches!(
            pool.set_max_waiting(Some(MAX_SLOTS + 1)),
            Err(BuildError::OutOfRange {
                setting: "max_waiting",
                ..
            })
        ));
        assert_eq!(pool.max_waiting(), Some(MAX_SLOTS));
        pool.set_max_waiting(None).unwrap();
        assert_eq!(pool.max_waiting(), None);
        let mut waiting = Task::new(pool.submit(async { 5 }));
        waiting.assert_pending();
        drop(held);
        assert_eq!(waiting.assert_ready(), Ok(5));
    }

    /// `PoolBuilder::clock`: "a `now` that panics is caught ... and read as
    /// the clock standing still at its last reading, so it costs no slot and
    /// no call." An autoscaled pool whose clock panics on every reading
    /// keeps serving calls, within its limit, and accounts for each.
    #[test]
    fn a_clock_that_always_panics_costs_no_slot_and_no_call() {
        struct Bad;
        impl pool_runtime::Clock for Bad {
            fn now(&self) -> Duration {
                panic!("planned: a broken clock");
            }
        }
        common::quiet_planned_panics();
        within(Duration::from_secs(20), || {
            let pool = Pool::builder()
                .kind(Kind::Autoscale)
                .min(1)
                .max(3)
                .size(2)
                .admission_timeout(Duration::from_secs(30))
                .clock(Bad)
                .build()
                .unwrap();
            let meter = Meter::default();
            futures::executor::block_on(async {
                let calls = (0..20).map(|_| {
                    let meter = meter.clone();
                    pool.submit(async move {
                        let _in = meter.enter();
                        common::yield_now().await;
                    })
                });
                let outs = futures::future::join_all(calls).await;
                assert!(outs.iter().all(|o| o.is_ok()), "{outs:?}");
            });
            assert!(meter.max() <= 3, "{} ran at once", meter.max());
            let stats = pool.stats();
            assert_eq!((stats.completed, stats.running, stats.waiting), (20, 0, 0));
            assert_accounted(&stats);
            assert_eq!(pool.run(|| 1), Ok(1));
        });
    }

    /// README: "A duration too long to pass (`Duration::MAX`) means
    /// 'never'", for `sync_barging` too: a sync caller allowed to wait
    /// outside the queue forever neither panics (deadline arithmetic) nor
    /// loses the slot freed while nobody is queued; and a queued call is
    /// still never overtaken by it.
    #[test]
    fn sync_barging_of_duration_max_waits_outside_and_takes_a_freed_slot() {
        within(Duration::from_secs(20), || {
            let pool = Pool::builder()
                .size(1)
                .sync_barging(Duration::MAX)
                .build()
                .unwrap();
            assert!(
                pool.sync_barging() >= Some(Duration::from_secs(100 * 365 * 24 * 3600)),
                "{:?}",
                pool.sync_barging()
            );
            let held = pool.try_acquire_owned(0).unwrap();
            let p = pool.clone();
            let sync = std::thread::spawn(move || p.run(|| 1));
            until("the sync caller waits (outside the queue)", || {
                pool.stats().waiting == 1
            });
            drop(held);
            assert_eq!(sync.join().unwrap(), Ok(1));
            // A queued async call is owed the next slot: the barging caller
            // waits behind it.
            let held = pool.try_acquire_owned(0).unwrap();
            let order = Arc::new(Mutex::new(Vec::new()));
            // The queued call's body records itself while it holds the slot
            // (a record made after its poll returned would race the barging
            // caller, which may take the freed slot at once).
            let o = order.clone();
            let mut queued = Task::new(pool.submit(async move {
                o.lock().unwrap().push("queued");
                2
            }));
            queued.assert_pending();
            let (p, o) = (pool.clone(), order.clone());
            let sync = std::thread::spawn(move || p.run(|| o.lock().unwrap().push("sync")));
            until("both wait", || pool.stats().waiting == 2);
            drop(held);
            assert_eq!(queued.assert_ready(), Ok(2));
            assert_eq!(sync.join().unwrap(), Ok(()));
            assert_eq!(*order.lock().unwrap(), ["queued", "sync"]);
        });
    }

    /// `Pool::drained`: "Resolves once the pool is closed and nothing is
    /// waiting or running. (On an open pool it waits for `close` first.)"
    #[test]
    fn drained_waits_for_close_then_for_the_last_call() {
        let pool = Pool::fixed(1);
        let mut drained = Task::new(pool.drained());
        drained.assert_pending();
        let held = pool.try_acquire().unwrap();
        let mut queued = Task::new(pool.submit(async { 1 }));
        queued.assert_pending();
        pool.close();
        drained.assert_pending();
        assert_eq!(
            Task::new(pool.submit(async { 2 })).assert_ready(),
            Err(Rejected::Closed)
        );
        drop(held);
        drained.assert_pending();
        assert_eq!(queued.assert_ready(), Ok(1));
        drained.assert_ready();
    }

    /// `Pool::abort`: "rejects every waiting call at once with
    /// `Rejected::Closed`; running calls finish" — for each call form that
    /// waits: async, permit, owned permit, blocking, sync (a parked thread).
    #[test]
    fn abort_turns_away_every_waiting_call_form_and_lets_the_running_one_finish() {
        within(Duration::from_secs(20), || {
            let pool = Pool::fixed(1);
            let held = pool.try_acquire().unwrap();
            let mut a = Task::new(pool.submit(async { 1 }));
            let mut b = Task::new(pool.acquire());
            let mut c = Task::new(pool.acquire_owned(0));
            let mut d = Task::new(pool.submit_blocking(|| 2));
            a.assert_pending();
            b.assert_pending();
            c.assert_pending();
            d.assert_pending();
            let sync = {
                let pool = pool.clone();
                std::thread::spawn(move || pool.run(|| 3))
            };
            until("the sync caller waits", || pool.stats().waiting == 5);
            pool.abort();
            assert_eq!(a.assert_ready(), Err(Rejected::Closed));
            assert!(matches!(b.assert_ready(), Err(Rejected::Closed)));
            assert!(matches!(c.assert_ready(), Err(Rejected::Closed)));
            assert_eq!(d.assert_ready(), Err(Rejected::Closed));
            assert_eq!(sync.join().unwrap(), Err(Rejected::Closed));
            assert!(pool.is_closed());
            assert_eq!(pool.stats().running, 1, "the running call is left alone");
            drop(held);
            let stats = pool.stats();
            assert_eq!((stats.running, stats.waiting, stats.completed), (0, 0, 1));
            assert_accounted(&stats);
        });
    }

    /// README table: `scoped` "closes, without waiting, if the body panics
    /// or the scope is dropped".
    #[test]
    fn scoped_closes_when_its_body_panics_or_its_future_is_dropped() {
        common::quiet_planned_panics();
        let pool = Pool::fixed(2);
        let kept = pool.clone();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(pool.scoped(|_p| async move {
                panic!("planned: the body panics");
            }))
        }));
        assert!(panicked.is_err());
        assert!(kept.is_closed(), "a panicking body closes the pool");

        let pool = Pool::fixed(2);
        let kept = pool.clone();
        let mut scope = Task::new(pool.scoped(|p| async move {
            let _held = p.acquire().await;
            std::future::pending::<()>().await
        }));
        scope.assert_pending();
        assert!(!kept.is_closed());
        drop(scope);
        assert!(kept.is_closed(), "a dropped scope closes the pool");
        assert_eq!(
            kept.stats().running,
            0,
            "the body's permit was dropped with it"
        );
    }
}

// ---- streams ------------------------------------------------------------------

#[cfg(feature = "stream")]
mod streams {
    use super::*;
    use futures::StreamExt;
    use pool_runtime::{Group, GroupSpec, PooledStreamExt};

    /// A stream of `n` futures yielding their index, counting how many the
    /// adapter pulled.
    fn counted(
        n: usize,
        pulled: &Arc<AtomicUsize>,
    ) -> impl futures::Stream<Item = impl std::future::Future<Output = usize>> {
        let pulled = pulled.clone();
        futures::stream::iter(0..n).map(move |i| {
            pulled.fetch_add(1, SeqCst);
            async move { i }
        })
    }

    /// Module docs: "after a scale-down the adapter pulls nothing until it
    /// is below the new bound"; the bound is "at least one, so a pool
    /// scaled to zero still has a waiter to wake the adapter when it grows
    /// again". A stream started on a pool of 0 pulls one item, then runs to
    /// the end once the pool grows, never above the new size.
    #[test]
    fn a_stream_on_a_pool_scaled_to_zero_waits_with_one_item_and_resumes_on_growth() {
        let pool = Pool::fixed(2);
        pool.resize(0);
        let pulled = Arc::new(AtomicUsize::new(0));
        let meter = Meter::default();
        let m = meter.clone();
        let p2 = pulled.clone();
        let items = futures::stream::iter(0..40usize).map(move |i| {
            p2.fetch_add(1, SeqCst);
            let m = m.clone();
            async move {
                let _in = m.enter();
                common::yield_now().await;
                i
            }
        });
        let mut stream = Task::new(items.pooled_unordered(&pool).collect::<Vec<_>>());
        stream.assert_pending();
        stream.assert_pending();
        assert_eq!(
            pulled.load(SeqCst),
            1,
            "a pool of 0 holds one item of the stream"
        );
        pool.resize(3);
        assert!(stream.is_woken(), "growing the pool wakes the stream");
        let mut out = None;
        for _ in 0..10_000 {
            if let std::task::Poll::Ready(v) = stream.poll() {
                out = Some(v);
                break;
            }
        }
        let out = out.expect("the stream ends");
        assert_eq!(out.len(), 40);
        assert!(out.iter().all(|o| o.is_ok()));
        assert!(
            meter.max() <= 3,
            "{} ran at once on a pool of 3",
            meter.max()
        );
        assert_eq!(meter.done(), 40);
    }

    /// A stream racing `close`: items pulled before the close (waiting in
    /// the queue) keep their place and run ("waiting and running calls
    /// finish"); every later item is yielded as `Err(Closed)`, in input
    /// order for `pooled_ordered`, and the stream ends.
    #[test]
    fn a_stream_racing_close_finishes_its_queued_items_and_yields_closed_for_the_rest() {
        let pool = Pool::fixed(1);
        let held = pool.try_acquire().unwrap();
        let pulled = Arc::new(AtomicUsize::new(0));
        let mut stream = Task::new(
            counted(6, &pulled)
                .pooled_ordered(&pool)
                .collect::<Vec<_>>(),
        );
        stream.assert_pending();
        assert_eq!(pulled.load(SeqCst), 2, "2 x size items pulled");
        pool.close();
        drop(held);
        let out = stream.assert_ready();
        assert_eq!(
            out,
            [
                Ok(0),
                Ok(1),
                Err(Rejected::Closed),
                Err(Rejected::Closed),
                Err(Rejected::Closed),
                Err(Rejected::Closed)
            ]
        );
        let stats = pool.stats();
        assert_eq!(
            (stats.completed, stats.running, stats.waiting),
            (3, 0, 0),
            "{stats:?}"
        );
    }

    /// The same race with `abort` (waiting items are turned away too) and
    /// with `pause` (queued ones go on, later ones are `Paused`).
    #[test]
    fn a_stream_racing_abort_or_pause_yields_each_items_outcome_in_order() {
        let pool = Pool::fixed(1);
        let held = pool.try_acquire().unwrap();
        let pulled = Arc::new(AtomicUsize::new(0));
        let mut stream = Task::new(
            counted(4, &pulled)
                .pooled_ordered(&pool)
                .collect::<Vec<_>>(),
        );
        stream.assert_pending();
        pool.abort();
        let out = stream.assert_ready();
        assert_eq!(out, [Err(Rejected::Closed); 4]);
        drop(held);

        let pool = Pool::fixed(1);
        let held = pool.try_acquire().unwrap();
        let mut stream = Task::new(
            counted(5, &pulled)
                .pooled_ordered(&pool)
                .collect::<Vec<_>>(),
        );
        stream.assert_pending();
        pool.pause();
        drop(held);
        let out = stream.assert_ready();
        assert_eq!(
            out,
            [
                Ok(0),
                Ok(1),
                Err(Rejected::Paused),
                Err(Rejected::Paused),
                Err(Rejected::Paused)
            ]
        );
    }

    static PRIO: Group = Group::new(
        GroupSpec::new("a15::stream_prio")
            .order(Order::Priority)
            .size(1),
    );

    /// `pooled_unordered_weighted`: "The weight orders the stream's calls
    /// among every call waiting for the pool" — over a priority group, the
    /// stream's light item goes before another caller's middle weight, its
    /// heavy item after.
    #[test]
    fn a_weighted_stream_over_a_priority_group_interleaves_with_other_callers_by_weight() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = PRIO.try_acquire(0).unwrap();
        let o = order.clone();
        let other = {
            let o = order.clone();
            PRIO.submit(5, async move { o.lock().unwrap().push(5) })
        };
        let mut other = Task::new(other);
        other.assert_pending();
        let items = futures::stream::iter([9i64, 1]).map(move |w| {
            let o = o.clone();
            (w, async move { o.lock().unwrap().push(w) })
        });
        // The weight is computed from each future: carry it alongside.
        struct Weighted<F>(i64, std::pin::Pin<Box<F>>);
        impl<F: std::future::Future> std::future::Future for Weighted<F> {
            type Output = F::Output;
            fn poll(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<F::Output> {
                self.1.as_mut().poll(cx)
            }
        }
        let stream = items
            .map(|(w, f)| Weighted(w, Box::pin(f)))
            .pooled_unordered_weighted(&PRIO, |job: &Weighted<_>| job.0);
        let mut stream = Task::new(stream.collect::<Vec<_>>());
        stream.assert_pending();
        assert_eq!(PRIO.stats().waiting, 3);
        drop(held);
        for _ in 0..100 {
            let _ = other.poll();
            if stream.poll().is_ready() {
                break;
            }
        }
        let _ = other.poll();
        assert_eq!(*order.lock().unwrap(), [1, 5, 9]);
    }
}

// ---- rayon from configuration ---------------------------------------------------

#[cfg(all(feature = "rayon", feature = "config"))]
mod rayon_config {
    use super::*;
    use pool_runtime::{config, register_group, ExecutorKind, Group, GroupSpec};

    static FROM_ENV: Group = Group::new(GroupSpec::new("a15::rayon_env").size(2));
    register_group!(FROM_ENV);
    static STARTED: Group = Group::new(GroupSpec::new("a15::rayon_started").size(2));
    register_group!(STARTED);

    /// README keys: `executor` (`"default"` or `"rayon"`: where blocking
    /// calls run), "the same in a file (lower case) and the environment
    /// (upper case)". A group whose variable says `rayon` runs its blocking
    /// calls on rayon's threads from its first use.
    #[test]
    fn the_executor_variable_moves_a_group_to_rayon() {
        common::in_child_process(
            "rayon_config::the_executor_variable_moves_a_group_to_rayon",
            &[(b"POOLED_A15__RAYON_ENV_EXECUTOR", b"rayon")],
            || {
                let on = futures::executor::block_on(
                    FROM_ENV.submit_blocking(0, || rayon::current_thread_index().is_some()),
                );
                assert_eq!(on, Ok(true), "the variable's executor is rayon");
                assert_eq!(FROM_ENV.settings().executor, ExecutorKind::Rayon);
            },
        );
    }

    static ISO_ENV: Group = Group::new(GroupSpec::new("a15::rayon_iso").size(2));
    register_group!(ISO_ENV);

    /// `Group::isolate`: "a fresh pool with the group's effective
    /// settings" — the executor included: a group moved to rayon by its
    /// variable gives the test an instance on rayon too, and nested calls in
    /// its rayon jobs stay in that instance.
    #[cfg(feature = "test-util")]
    #[test]
    fn an_isolated_instance_runs_blocking_calls_where_the_configuration_says() {
        common::in_child_process(
            "rayon_config::an_isolated_instance_runs_blocking_calls_where_the_configuration_says",
            &[(b"POOLED_A15__RAYON_ISO_EXECUTOR", b"rayon")],
            || {
                let mine = ISO_ENV.isolate();
                let instance: &'static Pool = mine.pool();
                let on = futures::executor::block_on(ISO_ENV.submit_blocking(0, move || {
                    let nested = ISO_ENV.run(|| 1);
                    (
                        rayon::current_thread_index().is_some(),
                        std::ptr::eq(ISO_ENV.pool(), instance),
                        nested,
                    )
                }));
                assert_eq!(on, Ok((true, true, Ok(1))));
                assert_eq!(instance.stats().completed, 2);
            },
        );
    }

    /// README: `executor` "takes effect at a group's next start", and a
    /// reload's report lists it as such: a running group keeps its executor.
    #[test]
    fn a_reload_naming_rayon_leaves_a_running_group_on_its_executor() {
        common::in_child_process(
            "rayon_config::a_reload_naming_rayon_leaves_a_running_group_on_its_executor",
            &[],
            || {
                let before = futures::executor::block_on(
                    STARTED.submit_blocking(0, || rayon::current_thread_index().is_some()),
                );
                assert_eq!(before, Ok(false));
                let report = config::load_str(
                    "app.toml",
                    "[groups.\"a15::rayon_started\"]\nexecutor = \"rayon\"\n",
                )
                .unwrap();
                let change = report
                    .changes
                    .iter()
                    .find(|c| c.setting == "executor")
                    .expect("the change is reported");
                assert_eq!(change.effect, config::Effect::AtRestart, "{report:?}");
                let after = futures::executor::block_on(
                    STARTED.submit_blocking(0, || rayon::current_thread_index().is_some()),
                );
                assert_eq!(after, Ok(false), "a running group keeps its executor");
            },
        );
    }
}

// ---- one check, one message, everywhere ------------------------------------------

#[cfg(feature = "config")]
mod one_rule {
    use super::*;
    use pool_runtime::{
        config, register_group, BuildError, Group, GroupSettings, GroupSpec, Kind, ScalePolicy,
        MAX_SLOTS,
    };

    static CHECKED: Group = Group::new(GroupSpec::new("a15::checked"));
    register_group!(CHECKED);

    /// `GroupSettings`: "Every surface goes through this one type and its
    /// one check, so the same values are refused everywhere with the same
    /// message"; README: "Every value is checked by the builder's own rule
    /// (`PoolBuilder::build`), with its message". For each bad value, the
    /// builder, `GroupSettings::check` and a configuration load refuse it,
    /// the load with the builder's message; the load changes nothing.
    #[test]
    fn each_bad_value_is_refused_by_every_surface_with_the_builders_message() {
        common::in_child_process(
            "one_rule::each_bad_value_is_refused_by_every_surface_with_the_builders_message",
            &[],
            || {
                let fixed = GroupSettings::DEFAULT;
                let auto = GroupSettings::DEFAULT.kind(Kind::Autoscale);
                let big = MAX_SLOTS + 1;
                let cases: Vec<(GroupSettings, String, BuildError)> = vec![
                    (fixed.size(0), "size = 0".into(), BuildError::ZeroSize),
                    (
                        fixed.size(big),
                        format!("size = {big}"),
                        BuildError::TooLarge { value: big },
                    ),
                    (
                        auto.min(5).max(3),
                        "kind = \"autoscale\"\nmin = 5\nmax = 3".into(),
                        BuildError::MinAboveMax { min: 5, max: 3 },
                    ),
                    (
                        auto.max(0),
                        "kind = \"autoscale\"\nmax = 0".into(),
                        BuildError::ZeroMax,
                    ),
                    (
                        auto.max(big),
                        format!("kind = \"autoscale\"\nmax = {big}"),
                        BuildError::TooLarge { value: big },
                    ),
                    (
                        fixed.min(1),
                        "min = 1".into(),
                        BuildError::BoundsOnFixedPool,
                    ),
                    (
                        fixed.scale_policy(ScalePolicy::Adaptive(Default::default())),
                        "policy = \"adaptive\"".into(),
                        BuildError::PolicyOnFixedPool,
                    ),
                    (
                        auto.autoscale_window(0),
                        "kind = \"autoscale\"\nautoscale_window = 0".into(),
                        BuildError::ZeroWindow,
                    ),
                    (
                        auto.autoscale_interval(Duration::ZERO),
                        "kind = \"autoscale\"\nautoscale_interval = \"0s\"".into(),
                        BuildError::ZeroInterval,
                    ),
                ];
                let mut mismatches = 0;
                for (settings, toml, want) in cases {
                    assert_eq!(settings.check().err(), Some(want.clone()), "check: {toml}");
                    let built = Pool::builder().settings(settings).build();
                    assert_eq!(built.err(), Some(want.clone()), "builder: {toml}");
                    let text = format!("[groups.\"a15::checked\"]\n{toml}\n");
                    let err = config::load_str("app.toml", &text)
                        .expect_err(&format!("the load refuses {toml}"));
                    // A count above MAX_SLOTS is refused by the parser
                    // with the range (a message of its own, naming the bound).
                    // Bounds on a fixed group get a message naming the group.
                    let same = if matches!(want, BuildError::TooLarge { .. }) {
                        err.to_string().contains(&MAX_SLOTS.to_string())
                    } else if want == BuildError::BoundsOnFixedPool {
                        err.to_string().contains("`min`/`max` apply to autoscaled")
                    } else {
                        err.to_string().contains(&want.to_string())
                    };
                    if !same {
                        eprintln!("MISMATCH {toml}: the load's error {err} lacks the builder's message {want}");
                        mismatches += 1;
                    }
                }
                assert_eq!(mismatches, 0, "see MISMATCH lines");
                let over = format!(
                    "[groups.\"a15::checked\"]\nmax_waiting = {}\n",
                    MAX_SLOTS + 1
                );
                assert!(config::load_str("app.toml", &over).is_err());
                assert_eq!(
                    CHECKED.settings(),
                    GroupSettings::DEFAULT,
                    "no refused load changed anything"
                );
                assert_eq!(CHECKED.size(), 3);
            },
        );
    }
}

// ---- durations too long to pass on tokio's paused clock ------------------------

mod tokio_clock {
    use super::*;
    use pool_runtime::TokioClock;

    /// README, bad input: "A duration too long to pass (`Duration::MAX`)
    /// means 'never'"; `TokioClock`: a pool built with it follows tokio's
    /// paused and auto-advanced test time in its admission timeouts. On a
    /// paused runtime with nothing else to do, tokio jumps to the next
    /// timer: a timeout of "never" must not be a timer it can jump to. The
    /// slot is given back from a plain thread (no tokio timer), so the only
    /// timer in the runtime is the waiting call's.
    #[tokio::test(start_paused = true)]
    async fn an_admission_timeout_of_duration_max_never_fires_on_paused_tokio_time() {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::MAX)
            .clock(TokioClock::new())
            .build()
            .unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let releaser = std::thread::spawn(move || {
            // Give the runtime time to go idle (real time), then free the slot.
            let _ = rx.recv_timeout(Duration::from_millis(300));
            drop(held);
        });
        let out = pool.submit(async { 1 }).await;
        drop(tx);
        releaser.join().unwrap();
        assert_eq!(
            out,
            Ok(1),
            "a timeout of Duration::MAX fired on paused tokio time"
        );
    }

    /// `Pool::shutdown`: "With a `timeout`, it returns by the deadline";
    /// README: a duration too long to pass means never. So
    /// `shutdown(Some(Duration::MAX))` on a pool that follows paused tokio
    /// time waits for the running call, as `shutdown(None)` would.
    #[tokio::test(start_paused = true)]
    async fn shutdown_with_duration_max_waits_for_the_running_call_on_paused_tokio_time() {
        let pool = Pool::builder()
            .size(1)
            .clock(TokioClock::new())
            .build()
            .unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        let out = pool.shutdown(Some(Duration::MAX)).await;
        releaser.join().unwrap();
        assert!(out.is_ok(), "a deadline of Duration::MAX passed: {out:?}");
        assert_eq!(pool.stats().running, 0);
    }

    /// README: "nothing binds a pool to the runtime that first used it";
    /// `TokioClock`: admission timeouts "then run on tokio's timer". A call
    /// first polled (and so waiting, its timeout on tokio's timer) inside a
    /// runtime that is then shut down, and finished on another executor,
    /// must still be admitted when the slot frees (or time out), not panic.
    #[test]
    fn a_waiting_call_outlives_the_runtime_whose_timer_it_started_on() {
        within(Duration::from_secs(20), || {
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_secs(30))
                .clock(TokioClock::new())
                .build()
                .unwrap();
            let held = pool.try_acquire_owned(0).unwrap();
            let mut call = Box::pin(pool.submit(async { 1 }));
            let first = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            first.block_on(async {
                assert!(futures::poll!(call.as_mut()).is_pending());
            });
            drop(first);
            drop(held);
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                futures::executor::block_on(call.as_mut())
            }));
            assert!(
                out.is_ok(),
                "polling the call after its runtime shut down panicked"
            );
            assert_eq!(out.unwrap(), Ok(1));
        });
    }

    /// The same call, its slot never freed: its admission timeout must
    /// still turn it away (`TimedOut`) once its runtime, and that runtime's
    /// timer, are gone.
    #[test]
    fn a_waiting_call_times_out_after_the_runtime_whose_timer_it_started_on_shut_down() {
        common::quiet_planned_panics();
        within(Duration::from_secs(20), || {
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(200))
                .clock(TokioClock::new())
                .build()
                .unwrap();
            let held = pool.try_acquire_owned(0).unwrap();
            let mut call = Box::pin(pool.submit(async { 1 }));
            let first = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            first.block_on(async {
                assert!(futures::poll!(call.as_mut()).is_pending());
            });
            drop(first);
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                futures::executor::block_on(call.as_mut())
            }));
            drop(call);
            assert_eq!(
                out.ok(),
                Some(Err(Rejected::TimedOut)),
                "polling the call after its runtime shut down panicked"
            );
            drop(held);
            assert_accounted(&pool.stats());
        });
    }

    /// `Pool::shutdown`: "With a `timeout`, it returns by the deadline
    /// whatever the calls do". Its deadline armed on a runtime's timer (a
    /// `TokioClock` pool), then that runtime shut down: awaited on, it must
    /// still return `ShutdownTimedOut` at the deadline, not panic.
    #[test]
    fn a_shutdown_deadline_outlives_the_runtime_whose_timer_it_started_on() {
        common::quiet_planned_panics();
        within(Duration::from_secs(20), || {
            let pool = Pool::builder()
                .size(1)
                .clock(TokioClock::new())
                .build()
                .unwrap();
            let held = pool.try_acquire_owned(0).unwrap();
            let mut shutdown = Box::pin(pool.shutdown(Some(Duration::from_millis(200))));
            let first = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            first.block_on(async {
                assert!(futures::poll!(shutdown.as_mut()).is_pending());
            });
            drop(first);
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                futures::executor::block_on(shutdown.as_mut())
            }));
            drop(shutdown);
            let out = out.expect("polling the shutdown after its runtime shut down panicked");
            assert!(
                out.is_err(),
                "the running call outlasted the deadline: {out:?}"
            );
            drop(held);
        });
    }

    /// The same for a finite but very long timeout set at run time
    /// (`set_admission_timeout`) through a group-like setter path: a year
    /// on paused time does pass once the runtime is idle — tokio's rule —
    /// and the call is then turned away with `TimedOut`, not a panic.
    #[tokio::test(start_paused = true)]
    async fn a_year_long_timeout_passes_on_paused_tokio_time_and_times_out_cleanly() {
        let pool = Pool::builder()
            .size(1)
            .clock(TokioClock::new())
            .build()
            .unwrap();
        pool.set_admission_timeout(Some(Duration::from_secs(365 * 24 * 3600)));
        let held = pool.try_acquire_owned(0).unwrap();
        let out = pool.submit(async { 1 }).await;
        assert_eq!(out, Err(Rejected::TimedOut));
        drop(held);
        assert_accounted(&pool.stats());
    }
}
