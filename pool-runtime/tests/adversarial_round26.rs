//! Hostile tests, round 26 (runtime crate): fleet limits over a Redis that
//! is paused, refused from the start, or whose keys another client
//! corrupts; two fleet clients of one process sharing one limit, counted
//! from outside; and the adaptive policy on a clock that jumps backwards.
//! Each is written from a documented promise (quoted above it), counts
//! bodies from outside the library, and is bounded in time.

mod common;
#[cfg(feature = "redis")]
mod redis_server;

use common::{assert_accounted, within, Meter};
#[cfg(feature = "redis")]
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(30);

#[cfg(feature = "redis")]
mod fleet {
    use super::*;
    use crate::redis_server::*;
    use pool_runtime::fleet::OnUnreachable;
    use pool_runtime::Rejected;

    fn set(server: &RedisServer, key: &str, value: &str) {
        let mut c = server.connection().unwrap();
        let _: () = redis::cmd("SET").arg(key).arg(value).query(&mut c).unwrap();
    }

    fn del(server: &RedisServer, key: &str) {
        let mut c = server.connection().unwrap();
        let _: i64 = redis::cmd("DEL").arg(key).query(&mut c).unwrap();
    }

    fn signal(pid: u32, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Promise (`pool_runtime::fleet`, "Redis unreachable"): "`reject` turns
    /// the call away with `Rejected::FleetUnavailable` ... `local` runs it
    /// under the local limit alone"; README: "bad input is an error value,
    /// never a panic or a freeze". Attack: another client turns the group's
    /// `holders` sorted set into a string, so every script errors
    /// (`WRONGTYPE`) although Redis answers. Under `reject` every call form
    /// (async, sync, `try_acquire`) must end as a typed rejection in bounded
    /// time; once the key is deleted the fleet works again, holding its
    /// limit counted from outside, and the accounting is whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_holders_key_of_the_wrong_type_is_a_typed_error_and_the_fleet_heals() {
        let server = RedisServer::start();
        let group = fleet_group("r26_wrongtype", &server, 2, OnUnreachable::Reject);
        set(&server, "{pooled:r26_wrongtype}:holders", "garbage");
        let meter = Meter::default();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let m = meter.clone();
            tasks.push(tokio::spawn(async move {
                group
                    .submit(0, async move {
                        let _in = m.enter();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    })
                    .await
            }));
        }
        for t in tasks {
            let out = tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("a call against a corrupted key hung")
                .unwrap();
            assert_eq!(out, Err(Rejected::FleetUnavailable));
        }
        assert_eq!(meter.done(), 0, "no work ran without a lease");
        let sync = tokio::task::spawn_blocking(move || group.run(|| 1))
            .await
            .unwrap();
        assert_eq!(sync, Err(Rejected::FleetUnavailable));
        let tried = tokio::task::spawn_blocking(move || group.try_acquire(0).map(drop))
            .await
            .unwrap();
        assert_eq!(tried, Err(Rejected::FleetUnavailable));
        assert_accounted(&group.stats());
        assert_eq!(group.stats().running, 0);

        // Healed: the key deleted, the fleet runs again under its limit.
        del(&server, "{pooled:r26_wrongtype}:holders");
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let m = meter.clone();
            tasks.push(tokio::spawn(async move {
                group
                    .submit(0, async move {
                        let _in = m.enter();
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    })
                    .await
            }));
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .expect("hung after the key was healed")
                .unwrap()
                .unwrap();
        }
        assert!(meter.max() <= 2, "fleet limit 2, saw {}", meter.max());
        assert_eq!(meter.done(), 12);
        let stats = group.stats();
        assert_accounted(&stats);
        assert_eq!((stats.running, stats.waiting, stats.nested), (0, 0, 0));
        let fleet = group.fleet().unwrap();
        tokio::time::timeout(Duration::from_secs(5), fleet.flush())
            .await
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || server
                .keys("r26_wrongtype")
                .is_empty()),
            "keys left: {:?}",
            server.keys("r26_wrongtype")
        );
    }

    /// Promise (`pool_runtime::fleet`, "Fencing tokens"): "Tokens are
    /// `INCR`ed ... so they keep growing after the keys are deleted"; and the
    /// limit holds. Attack: while calls run and wait, another client sets
    /// the `fence` key to a string `INCR` refuses (every grant errors
    /// half-way through the script, after it took the waiter out of the
    /// queue) and later deletes it. Under `wait`, waiting calls must keep
    /// waiting (no grant without a lease, no lost waiter), then all run,
    /// never more than the limit at once counted from outside; tokens keep
    /// growing; nothing is left in Redis.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_corrupted_fence_stalls_grants_without_losing_waiters_or_the_limit() {
        let server = RedisServer::start();
        let group = fleet_group("r26_fence", &server, 2, OnUnreachable::Wait);
        let meter = Meter::default();
        let tokens = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..10u64 {
            let m = meter.clone();
            let tokens = tokens.clone();
            tasks.push(tokio::spawn(async move {
                group
                    .submit(0, async move {
                        let _in = m.enter();
                        tokens.lock().unwrap().push(pool_runtime::fleet::token());
                        let ms = if i < 2 { 400 } else { 20 };
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    })
                    .await
            }));
            if i == 1 {
                // The first two hold their leases before the fence breaks.
                assert!(wait_until_async(Duration::from_secs(5), || meter.now() == 2).await);
                set(&server, "{pooled:r26_fence}:fence", "not a number");
            }
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(meter.max() <= 2, "saw {}", meter.max());
        let done_while_broken = meter.done();
        assert_eq!(done_while_broken, 2, "no grant while the fence is broken");
        del(&server, "{pooled:r26_fence}:fence");
        for t in tasks {
            let out = tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .expect("a waiter was lost after the fence was healed")
                .unwrap();
            assert_eq!(out, Ok(()));
        }
        assert!(meter.max() <= 2, "fleet limit 2, saw {}", meter.max());
        assert_eq!(meter.done(), 10);
        let tokens = tokens.lock().unwrap().clone();
        assert!(tokens.iter().all(Option::is_some), "{tokens:?}");
        let mut sorted = tokens.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10, "fencing tokens repeat: {tokens:?}");
        let stats = group.stats();
        assert_accounted(&stats);
        assert_eq!((stats.running, stats.waiting), (0, 0));
        let fleet = group.fleet().unwrap();
        tokio::time::timeout(Duration::from_secs(5), fleet.flush())
            .await
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || server
                .keys("r26_fence")
                .is_empty()),
            "keys left: {:?}",
            server.keys("r26_fence")
        );
    }

    async fn wait_until_async(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        done()
    }

    /// Promise (`pool_runtime::fleet`, "Redis unreachable"): "a holder that
    /// gets no renewal answered for nine tenths of a lease (Redis away,
    /// paused ...) counts the lease lost then ... so a holder cut off from
    /// Redis stops before the fleet can give its slot to another process";
    /// "`wait` retries ... until Redis answers". Attack: two independent
    /// clients of one fleet (two groups of one name, FIFO and LIFO), limit
    /// 2, calls back to back; Redis is `SIGSTOP`ped for 1.6 leases mid-run,
    /// then continued. Counted from outside across both clients: never more
    /// than 2 bodies at once (Redis paused cannot grant; holders stop before
    /// it resumes); every call ends `Ok` or `LeaseLost` within bounds; the
    /// accounting is whole and nothing is left in Redis.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_clients_of_one_fleet_keep_its_limit_through_a_sigstopped_redis() {
        let server = RedisServer::start();
        let a = fleet_group("r26_stopped", &server, 2, OnUnreachable::Wait);
        let b = group_with("r26_stopped", |s| {
            s.size(8)
                .order(pool_runtime::Order::Lifo)
                .fleet_limit(2)
                .fleet_url(leak(server.url()))
                .fleet_lease(Duration::from_millis(1000))
                .fleet_unreachable(OnUnreachable::Wait)
        });
        let meter = Meter::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let g = if i % 2 == 0 { a } else { b };
            let m = meter.clone();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut lost) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let m = m.clone();
                    let out = g
                        .submit(0, async move {
                            let _in = m.enter();
                            tokio::time::sleep(Duration::from_millis(30)).await;
                        })
                        .await;
                    match out {
                        Ok(()) => ok += 1,
                        Err(Rejected::LeaseLost) => lost += 1,
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                (ok, lost)
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        let pid = server.pid();
        signal(pid, "-STOP");
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert!(
            meter.now() == 0,
            "calls still run with Redis paused past their leases: {}",
            meter.now()
        );
        signal(pid, "-CONT");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (mut ok, mut lost) = (0, 0);
        for t in tasks {
            let (o, l) = tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .expect("a caller hung after Redis continued")
                .unwrap();
            ok += o;
            lost += l;
        }
        assert!(meter.max() <= 2, "fleet limit 2, saw {}", meter.max());
        assert!(ok > 0, "nothing ran after Redis continued ({lost} lost)");
        for g in [a, b] {
            let stats = g.stats();
            assert_accounted(&stats);
            assert_eq!((stats.running, stats.waiting, stats.nested), (0, 0, 0));
            let fleet = g.fleet().unwrap();
            tokio::time::timeout(Duration::from_secs(5), fleet.flush())
                .await
                .unwrap();
        }
        assert!(
            wait_until(Duration::from_secs(5), || server
                .keys("r26_stopped")
                .is_empty()),
            "keys left: {:?}",
            server.keys("r26_stopped")
        );
    }

    /// Promise (`pool_runtime::fleet`, "Redis unreachable"): "`wait` retries
    /// (backing off up to 1 s) until Redis answers, still holding the local
    /// slot"; `reject` "turns the call away with `FleetUnavailable`".
    /// Attack: Redis refuses connections from the first call on (nothing
    /// listens on the port); a `wait` group and a `reject` group of the same
    /// fleet are called; then Redis starts. The rejecting calls end typed
    /// and fast; the waiting ones, never more than the fleet limit at once
    /// counted from outside, all run once Redis is up; the accounting is
    /// whole and nothing is left in Redis.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connection_refused_from_the_start_then_redis_comes_up() {
        let mut server = RedisServer::start();
        server.stop();
        let waiting = fleet_group("r26_refused", &server, 2, OnUnreachable::Wait);
        let rejecting = group_with("r26_refused", |s| {
            s.size(8)
                .fleet_limit(2)
                .fleet_url(leak(server.url()))
                .fleet_lease(Duration::from_millis(1000))
                .fleet_unreachable(OnUnreachable::Reject)
        });
        let meter = Meter::default();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let m = meter.clone();
            tasks.push(tokio::spawn(async move {
                waiting
                    .submit(0, async move {
                        let _in = m.enter();
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    })
                    .await
            }));
        }
        let started = std::time::Instant::now();
        for _ in 0..3 {
            let out = tokio::time::timeout(
                Duration::from_secs(5),
                rejecting.submit(0, async { unreachable!("ran without Redis") }),
            )
            .await
            .expect("a rejecting call hung with Redis refusing");
            assert_eq!(out, Err(Rejected::FleetUnavailable));
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(meter.done(), 0, "ran without a lease");
        assert_eq!(
            waiting.stats().running,
            8,
            "waiting for leases holding slots"
        );
        server.restart();
        for t in tasks {
            let out = tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .expect("a waiting call hung after Redis came up")
                .unwrap();
            assert_eq!(out, Ok(()));
        }
        assert!(meter.max() <= 2, "fleet limit 2, saw {}", meter.max());
        for g in [waiting, rejecting] {
            let stats = g.stats();
            assert_accounted(&stats);
            assert_eq!((stats.running, stats.waiting), (0, 0));
            let fleet = g.fleet().unwrap();
            tokio::time::timeout(Duration::from_secs(5), fleet.flush())
                .await
                .unwrap();
        }
        assert!(
            wait_until(Duration::from_secs(5), || server
                .keys("r26_refused")
                .is_empty()),
            "keys left: {:?}",
            server.keys("r26_refused")
        );
    }

    /// Promise (`pool_runtime::fleet`, "Fairness"): "Calls waiting for a
    /// lease queue in Redis in the order they first asked ... a waiter also
    /// asks again at the nearest lease expiry and at least every third of a
    /// lease"; and the limit. Attack: two clients of one fleet (limit 1),
    /// calls back to back with waiters queued, while another client keeps
    /// deleting the fleet's `queue`, `alive`, `ticket` and `limit` keys
    /// (never `holders`, whose loss the docs allow to over-admit). Counted
    /// from outside: never 2 bodies at once; every call completes within
    /// bounds (a waiter whose queue entry vanished asks again and gets in).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queue_keys_deleted_by_another_client_lose_no_waiter_and_keep_the_limit() {
        let server = RedisServer::start();
        let a = fleet_group("r26_queue_del", &server, 1, OnUnreachable::Wait);
        let b = group_with("r26_queue_del", |s| {
            s.size(8)
                .order(pool_runtime::Order::Lifo)
                .fleet_limit(1)
                .fleet_url(leak(server.url()))
                .fleet_lease(Duration::from_millis(1000))
        });
        let meter = Meter::default();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let g = if i % 2 == 0 { a } else { b };
            let m = meter.clone();
            tasks.push(tokio::spawn(async move {
                g.submit(0, async move {
                    let _in = m.enter();
                    tokio::time::sleep(Duration::from_millis(15)).await;
                })
                .await
            }));
        }
        let mut c = server.connection().unwrap();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            let _: i64 = redis::cmd("DEL")
                .arg("{pooled:r26_queue_del}:queue")
                .arg("{pooled:r26_queue_del}:alive")
                .arg("{pooled:r26_queue_del}:ticket")
                .arg("{pooled:r26_queue_del}:limit")
                .query(&mut c)
                .unwrap();
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("a waiter was lost with its queue entry")
                .unwrap()
                .unwrap();
        }
        assert_eq!(meter.done(), 16);
        assert_eq!(meter.max(), 1, "fleet limit 1, saw {}", meter.max());
        for g in [a, b] {
            let stats = g.stats();
            assert_accounted(&stats);
            assert_eq!((stats.running, stats.waiting), (0, 0));
            let fleet = g.fleet().unwrap();
            tokio::time::timeout(Duration::from_secs(5), fleet.flush())
                .await
                .unwrap();
        }
        assert!(
            wait_until(Duration::from_secs(5), || server
                .keys("r26_queue_del")
                .is_empty()),
            "keys left: {:?}",
            server.keys("r26_queue_del")
        );
    }

    /// Promise (`pool_runtime::fleet`, "One limit"): "a process configured
    /// with another limit follows the stored one". Attack: another client
    /// lowers the stored limit from 3 to 1 while three calls hold leases and
    /// more wait. Counted from outside, once the three early holders have
    /// ended, never more than one at a time; every call runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stored_limit_lowered_by_another_client_is_followed_at_once() {
        let server = RedisServer::start();
        let group = fleet_group("r26_lowered", &server, 3, OnUnreachable::Wait);
        let early = Meter::default();
        let late = Meter::default();
        let mut tasks = Vec::new();
        for i in 0..3 {
            let m = early.clone();
            tasks.push(tokio::spawn(async move {
                group
                    .submit(0, async move {
                        let _in = m.enter();
                        tokio::time::sleep(Duration::from_millis(300 + 50 * i)).await;
                    })
                    .await
            }));
        }
        assert!(wait_until_async(Duration::from_secs(5), || early.now() == 3).await);
        set(&server, "{pooled:r26_lowered}:limit", "1");
        for _ in 0..6 {
            let m = late.clone();
            let e = early.clone();
            tasks.push(tokio::spawn(async move {
                group
                    .submit(0, async move {
                        let _in = m.enter();
                        assert_eq!(e.now(), 0, "a late call ran beside an early one");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    })
                    .await
            }));
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .expect("hung")
                .unwrap()
                .unwrap();
        }
        assert_eq!(late.max(), 1, "stored limit 1, saw {}", late.max());
        assert!(group.fleet_stats().unwrap().limit_mismatches > 0);
        assert_accounted(&group.stats());
    }
}

/// Promise (`pool_runtime::fleet`, "Nested calls share their parent's
/// lease"): "A call of a fleet group made from inside the work of a call of
/// the same fleet, on the thread running that work (an awaited or joined
/// call, a sync call, ...), runs under its parent's lease and never asks for
/// one ... So a call that calls its own group cannot deadlock the fleet";
/// README: "A call nested in a fleet call's work runs under its parent's
/// lease (the fleet counts top-level calls), so a call that calls its own
/// group cannot deadlock it." Attack: two fleet groups `Y` and `X`, each
/// with a fleet limit of 1 (local slots to spare); a call of `Y` whose
/// work calls `X`, whose work calls `Y` again (mutual recursion across two
/// fleet groups, as `#[pooled]` functions calling each other do), async and
/// sync. The inner `Y` call is in the work of the outer `Y` call, on its
/// thread: it must run under the outer call's lease, not wait for the one
/// lease its own ancestor holds.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_call_nested_through_another_fleet_group_runs_under_its_ancestors_lease() {
    use crate::redis_server::*;
    use pool_runtime::fleet::OnUnreachable;
    let server = RedisServer::start();
    let y = fleet_group("r26_y", &server, 1, OnUnreachable::Wait);
    let x = fleet_group("r26_x", &server, 1, OnUnreachable::Wait);
    let meter = Meter::default();
    let m = meter.clone();
    let call = y.submit(0, async move {
        x.submit(0, async move {
            y.submit(0, async move {
                let _in = m.enter();
                7
            })
            .await
        })
        .await
    });
    let mut call = std::pin::pin!(call);
    tokio::select! {
        out = &mut call => assert_eq!(out, Ok(Ok(Ok(7)))),
        _ = tokio::time::sleep(Duration::from_secs(10)) => panic!(
            "Y -> X -> Y deadlocked (async): Y's fleet {:?}, X's fleet {:?}",
            y.fleet_stats(),
            x.fleet_stats()
        ),
    }
    for g in [x, y] {
        let stats = g.stats();
        assert_accounted(&stats);
        assert_eq!((stats.running, stats.waiting, stats.nested), (0, 0, 0));
    }
}

/// The same promise, on the sync path (`Group::run`, a sync `#[pooled]`
/// fn): "a sync call ... runs under its parent's lease and never asks for
/// one". Attack: `Y.run(|| X.run(|| Y.run(..)))`, fleet limits of 1, from
/// a plain thread.
#[cfg(feature = "redis")]
#[test]
fn a_sync_fleet_call_nested_through_another_fleet_group_runs_under_its_ancestors_lease() {
    use crate::redis_server::*;
    use pool_runtime::fleet::OnUnreachable;
    let server = RedisServer::start();
    let y = fleet_group("r26_sync_y", &server, 1, OnUnreachable::Wait);
    let x = fleet_group("r26_sync_x", &server, 1, OnUnreachable::Wait);
    let out = within(Duration::from_secs(10), move || {
        y.run(|| x.run(|| y.run(|| 8)))
    });
    assert_eq!(out, Ok(Ok(Ok(8))));
    for g in [x, y] {
        let stats = g.stats();
        assert_accounted(&stats);
        assert_eq!((stats.running, stats.waiting, stats.nested), (0, 0, 0));
    }
}

/// Promise (`pool_runtime::fleet`, "Expiry and renewal"): "A renewal never
/// re-creates a lease that expired or vanished: the holder's
/// `Lease::is_lost` turns true, the loss is counted ... and a rejecting
/// async call ends with `Rejected::LeaseLost` (its work is not polled
/// again)"; "Nested calls share their parent's lease ... A nested call that
/// outlives its parent (a future returned out of the work ...) keeps the
/// parent's lease held, renewed, until it ends". Attack: fleet limit 1; a
/// call's nested call (an async `submit`, which rejects) is polled once in
/// its parent's work and returned out of it; the parent ends; the orphan
/// works on under the shared lease. Another client deletes the `holders`
/// key: the next renewal finds the lease gone and counts the loss. The
/// orphan, a rejecting async call whose lease is lost, must then end with
/// `LeaseLost` (counted from outside: its body is dropped) instead of
/// running on for seconds beside the call the fleet now admits in its
/// place.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::async_yields_async)] // the parent returns its nested call
async fn an_orphaned_nested_fleet_call_ends_when_the_shared_lease_is_lost() {
    use crate::redis_server::*;
    use pool_runtime::fleet::OnUnreachable;
    use pool_runtime::Rejected;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let server = RedisServer::start();
    let y = fleet_group("r26_orphan_lost", &server, 1, OnUnreachable::Wait);
    let other = group_with("r26_orphan_lost", |s| {
        s.size(8)
            .fleet_limit(1)
            .fleet_url(leak(server.url()))
            .fleet_lease(Duration::from_millis(1000))
    });
    let meter = Meter::default();
    let started: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let m = meter.clone();
    let orphan = y
        .submit(0, async move {
            let mut nested = Box::pin(y.submit(0, async move {
                let _in = m.enter();
                started.store(true, SeqCst);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }));
            assert!(futures::poll!(nested.as_mut()).is_pending());
            nested
        })
        .await
        .expect("the parent ran");
    assert!(started.load(SeqCst));
    let orphan = tokio::spawn(orphan);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        y.fleet_stats().unwrap().held,
        1,
        "the orphan keeps the lease"
    );
    let mut c = server.connection().unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg("{pooled:r26_orphan_lost}:holders")
        .query(&mut c)
        .unwrap();
    let lost_at = std::time::Instant::now();
    while y.fleet_stats().unwrap().lost == 0 {
        assert!(
            lost_at.elapsed() < Duration::from_secs(3),
            "the loss was never counted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let counted = std::time::Instant::now();
    // The fleet now admits another call in the orphan's place.
    let m = meter.clone();
    let replacement = tokio::spawn(other.submit(0, async move {
        let _in = m.enter();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }));
    let out = tokio::time::timeout(Duration::from_secs(10), orphan)
        .await
        .expect("hung")
        .unwrap();
    let ended_after = counted.elapsed();
    tokio::time::timeout(Duration::from_secs(10), replacement)
        .await
        .expect("hung")
        .unwrap()
        .unwrap();
    assert_eq!(
        (out, ended_after < Duration::from_secs(1)),
        (Err(Rejected::LeaseLost), true),
        "the orphan ran on for {ended_after:?} after its lease was lost; \
         {} bodies at once under a fleet limit of 1",
        meter.max()
    );
}

/// A waker that, the first time it is woken on the fleet's own thread
/// (`pooled-fleet`), makes a sync call of `group` there and records what it
/// got.
#[cfg(feature = "redis")]
struct SyncCallingWaker {
    group: &'static pool_runtime::Group,
    woken_on_fleet: std::sync::atomic::AtomicBool,
    inner: std::sync::Mutex<Option<Result<u32, pool_runtime::Rejected>>>,
}

#[cfg(feature = "redis")]
impl std::task::Wake for SyncCallingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let on_fleet = std::thread::current().name() == Some("pooled-fleet");
        if on_fleet
            && !self
                .woken_on_fleet
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let out = self.group.run(|| 5);
            *self.inner.lock().unwrap() = Some(out);
        }
    }
}

/// Promise (`pool_runtime::fleet`, "Sync calls"): "All of the fleet's Redis
/// traffic, renewals and wake-ups run on a background thread of their own
/// (`pooled-fleet`), so fleet groups work from any runtime or none, like
/// every group"; README: "nothing hangs", and a waker is user code the
/// pools run with no lock held (`a_waker_that_makes_a_sync_call_into_the_pool_when_woken_keeps_the_limit`
/// in `adversarial_round16.rs` makes a sync call from a waker). Attack: an
/// async call of a fleet group polled with a waker that, woken on the
/// fleet's thread when the lease is granted, makes a sync call of the same
/// fleet group (`Group::run`) there. A lease is free: the sync call must
/// complete (one round trip) and the async call then run; instead of the
/// fleet's one thread blocking on a round trip only it can make.
#[cfg(feature = "redis")]
#[test]
fn a_waker_woken_on_the_fleet_thread_making_a_sync_fleet_call_does_not_hang_the_fleet() {
    // In a process of its own: a hang takes the process's fleet thread.
    common::in_own_process(
        "a_waker_woken_on_the_fleet_thread_making_a_sync_fleet_call_does_not_hang_the_fleet",
        &[],
        waker_on_the_fleet_thread_scenario,
    );
}

#[cfg(feature = "redis")]
fn waker_on_the_fleet_thread_scenario() {
    use crate::redis_server::*;
    use pool_runtime::fleet::OnUnreachable;
    let server = RedisServer::start();
    let group = fleet_group("r26_fleet_waker", &server, 2, OnUnreachable::Wait);
    let waker = Arc::new(SyncCallingWaker {
        group,
        woken_on_fleet: std::sync::atomic::AtomicBool::new(false),
        inner: std::sync::Mutex::new(None),
    });
    let probe = waker.clone();
    let out = within(Duration::from_secs(15), move || {
        let waker = std::task::Waker::from(waker);
        let mut cx = std::task::Context::from_waker(&waker);
        let mut call = Box::pin(group.submit(0, async { 1u32 }));
        let started = std::time::Instant::now();
        loop {
            if let std::task::Poll::Ready(out) = call.as_mut().poll(&mut cx) {
                break out;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the async call never ended: woken on the fleet thread {}, the \
                 waker's sync call {:?}, fleet {:?}",
                probe
                    .woken_on_fleet
                    .load(std::sync::atomic::Ordering::SeqCst),
                probe.inner.lock().unwrap(),
                group.fleet_stats()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    assert_eq!(out, Ok(1));
}

static LOCAL_Y: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("r26::local_y").size(1));
static LOCAL_X: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("r26::local_x").size(1));

/// The control of the two fleet tests above: the same `Y -> X -> Y` call
/// graph over two groups of one local slot each and no fleet completes
/// (the local reentrancy rule sees the outer `Y` call through `X`), async
/// and sync, so the hang there is the fleet's.
#[test]
fn mutual_recursion_across_two_local_groups_of_one_completes() {
    within(Duration::from_secs(10), || {
        let (y, x) = (&LOCAL_Y, &LOCAL_X);
        let out = futures::executor::block_on(y.submit(0, async move {
            x.submit(0, async move { y.submit(0, async { 7 }).await })
                .await
        }));
        assert_eq!(out, Ok(Ok(Ok(7))));
        assert_eq!(y.run(|| x.run(|| y.run(|| 8))), Ok(Ok(Ok(8))));
        for g in [x, y] {
            let stats = g.stats();
            assert_accounted(&stats);
            assert_eq!((stats.running, stats.waiting, stats.nested), (0, 0, 0));
        }
    });
}

/// A clock that goes wherever the test puts it, backwards too.
#[derive(Clone, Default)]
struct JumpingClock(Arc<std::sync::atomic::AtomicU64>);

impl pool_runtime::Clock for JumpingClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Promise (README, "Bad input is an error value, never a panic, an
/// overflow or a freeze"; "The limit never goes below `min`"; `Stats` and
/// settings carry no NaN). Attack: adaptive pools whose clock jumps
/// backwards and forwards by huge amounts between and inside judged calls
/// (a clock that is not monotonic, as a buggy `Clock` or a VM may give),
/// zero latencies (the clock standing still), every call an overload, and
/// alternating verdicts, several calls at once. No panic (debug builds
/// check overflow), no hang, the limit within [min, max] at every step,
/// bodies counted from outside never more than the high-water limit, and
/// the accounting whole.
#[test]
fn an_adaptive_pool_on_a_clock_jumping_backwards_keeps_its_bounds() {
    use pool_runtime::{Kind, Pool, ScalePolicy, Verdict};
    within(WATCHDOG, || {
        let patterns: [fn(u64) -> u64; 5] = [
            |_| 0,
            |i| if i % 2 == 0 { u64::MAX / 2 } else { 1 },
            |i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 60),
            |i| {
                if i % 3 == 0 {
                    u64::MAX
                } else {
                    i.wrapping_mul(1_000_000)
                }
            },
            |i| u64::MAX.wrapping_sub(i.wrapping_mul(1_000_000_000)),
        ];
        let verdicts: [fn(u64) -> Verdict; 4] = [
            |_| Verdict::Overload,
            |_| Verdict::Success,
            |i| {
                if i % 2 == 0 {
                    Verdict::Overload
                } else {
                    Verdict::Success
                }
            },
            |i| match i % 3 {
                0 => Verdict::Ignore,
                1 => Verdict::Overload,
                _ => Verdict::Success,
            },
        ];
        for (p, pattern) in patterns.iter().enumerate() {
            for (v, verdict) in verdicts.iter().enumerate() {
                for (min, max) in [(1, 1), (1, 4), (2, 64)] {
                    let clock = JumpingClock::default();
                    let pool = Pool::builder()
                        .kind(Kind::Autoscale)
                        .scale_policy(ScalePolicy::Adaptive(
                            pool_runtime::AdaptiveSettings::DEFAULT,
                        ))
                        .min(min)
                        .max(max)
                        .clock(clock.clone())
                        .build()
                        .unwrap();
                    let meter = Meter::default();
                    let high = std::sync::atomic::AtomicUsize::new(pool.size());
                    let step = std::sync::atomic::AtomicU64::new(0);
                    let tick = || {
                        let i = step.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        clock
                            .0
                            .store(pattern(i), std::sync::atomic::Ordering::SeqCst);
                        i
                    };
                    std::thread::scope(|s| {
                        for _ in 0..3 {
                            s.spawn(|| {
                                for _ in 0..60 {
                                    let i = tick();
                                    let out =
                                        futures::executor::block_on(pool.submit_judged(
                                            0,
                                            async {
                                                let _in = meter.enter();
                                                tick();
                                                i
                                            },
                                            |i: &u64| verdict(*i),
                                        ));
                                    assert!(out.is_ok(), "{out:?}");
                                    let size = pool.size();
                                    high.fetch_max(size, std::sync::atomic::Ordering::SeqCst);
                                    assert!(
                                        (min..=max).contains(&size),
                                        "pattern {p} verdicts {v}: size {size} outside {min}..={max}"
                                    );
                                }
                            });
                        }
                    });
                    let stats = pool.stats();
                    assert_accounted(&stats);
                    assert_eq!(stats.completed, 180, "{stats:?}");
                    assert!((min..=max).contains(&stats.size), "{stats:?}");
                    assert!(
                        meter.max() <= high.load(std::sync::atomic::Ordering::SeqCst),
                        "pattern {p} verdicts {v}: {} bodies, limit at most {}",
                        meter.max(),
                        high.load(std::sync::atomic::Ordering::SeqCst)
                    );
                    let text = format!("{stats:?}");
                    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
                }
            }
        }
    });
}

/// Promise (README, "Drops act at once"; `PoolBuilder::clock`: a clock that
/// goes backwards is tolerated). A user's clock that jumps back (a VM
/// restored, a clock reset) after the adaptive limit made a cut: every
/// later call looked sent before that cut, so the server's refusals were
/// all set aside as judging an old limit, and the limit never fell again
/// until the clock caught up (here: 1 000 s). Time as the pool reads it now
/// stands still across the jump and runs on from there: the refusals cut.
#[test]
fn a_clock_jumping_back_after_a_cut_does_not_blind_the_adaptive_limit_to_drops() {
    use pool_runtime::{Kind, Pool, ScalePolicy, Verdict};
    within(WATCHDOG, || {
        let clock = JumpingClock::default();
        let set = |seconds: u64, nanos: u64| {
            clock.0.store(
                seconds * 1_000_000_000 + nanos,
                std::sync::atomic::Ordering::SeqCst,
            )
        };
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .scale_policy(ScalePolicy::Adaptive(
                pool_runtime::AdaptiveSettings::DEFAULT,
            ))
            .min(1)
            .max(64)
            .size(32)
            .clock(clock.clone())
            .build()
            .unwrap();
        // Each call takes a millisecond of the clock; every one is refused.
        let mut at = 1_000_000_000u64; // ns into second 1 000
        let refuse = |pool: &Pool, n: usize, base: u64, at: &mut u64| {
            for _ in 0..n {
                let out = futures::executor::block_on(pool.submit_judged(
                    0,
                    async {
                        *at += 1_000_000;
                        set(base, *at);
                    },
                    |_: &()| Verdict::Overload,
                ));
                assert!(out.is_ok(), "{out:?}");
            }
        };
        set(1_000, at);
        // A burst of three refusals: one cut.
        refuse(&pool, 3, 1_000, &mut at);
        let after_first = pool.size();
        assert!(
            (8..32).contains(&after_first),
            "the refusals cut the limit once: {after_first}"
        );
        // The clock jumps back by 990 s; the server still refuses everything.
        at = 0;
        set(10, at);
        refuse(&pool, 200, 10, &mut at);
        let stats = pool.stats();
        assert_accounted(&stats);
        assert!(
            pool.size() <= after_first / 4,
            "200 refusals after the clock went back left the limit at {} (it was {after_first} \
             after the first cut)",
            pool.size()
        );
    });
}
