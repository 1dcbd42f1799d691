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
        assert!(std::time::Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A flag to open, and work that waits (on tokio's timer) until it is.
fn gate() -> (impl std::future::Future<Output = ()> + Send + 'static, Arc<std::sync::atomic::AtomicBool>) {
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
        assert!(std::time::Instant::now() < deadline, "never happened: {what}");
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

    fn group(name: &str, server: &RedisServer, local: usize, limit: usize, lease_ms: u64)
        -> &'static pool_runtime::Group {
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
        let inside = tokio::time::timeout(
            Duration::from_secs(20),
            g.submit(0, async { token() }),
        )
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
            pubsub.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
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
        until_async("the first call holds the slot and waits for a lease", || {
            g.fleet_stats().is_some_and(|s| s.waiting == 1)
        })
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
        assert_eq!((s.limit, s.held, s.acquired, s.released), (1, 0, 0, 0), "{s:?}");
        assert_eq!(g.stats().running, 1, "a call waiting for its lease counts as running");
        held.release().await;
        until_async("the call holds its lease", || {
            g.fleet_stats().is_some_and(|s| s.held == 1)
        })
        .await;
        let s = g.fleet_stats().unwrap();
        assert_eq!((s.waiting, s.acquired, s.limit_in_force), (0, 1, 1), "{s:?}");
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
        assert_eq!((s.held, s.waiting, s.acquired, s.released, s.lost), (0, 0, 1, 1, 0), "{s:?}");
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
        assert!(got.is_err(), "another client got the only lease while it was held");
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
