//! Hostile tests, round 18: the fleet limit over real `redis-server`
//! processes, attacked where its clients disagree on a lease's length,
//! where Redis restarts under holders that do not know yet, where Redis is
//! frozen under a release, where a fleet group is isolated for a test
//! (`test-util`) before its first use, and where its first use races a
//! load; the rayon executor with one thread, saturated and re-entered, its
//! callers dropped and its jobs panicking; `config::watch` under a file
//! rewritten fast (truncated, renamed over, removed). Each test names the
//! promise it attacks (the limit, nothing hangs, nothing is lost, bad input
//! an error value, settings and reports that say what runs). Concurrency is
//! counted from outside the library (leases held by `Fleet` clients of
//! their own, as other processes would hold them, or counters around each
//! body); every wait is bounded only to turn a hang into a failure.
#![cfg(all(feature = "tokio", feature = "config"))]

mod common;
#[cfg(feature = "redis")]
mod redis_server;

#[cfg(feature = "redis")]
mod fleet {
    use super::redis_server::*;
    use pool_runtime::fleet::{Fleet, FleetSettings, OnUnreachable};
    use pool_runtime::GroupSettings;
    use std::time::Duration;

    /// Settings of a fleet of limit `limit` on `server` with a lease of `lease`.
    fn fleet_settings(server: &RedisServer, limit: usize, lease: Duration) -> FleetSettings {
        GroupSettings::DEFAULT
            .fleet_limit(limit)
            .fleet_url(leak(server.url()))
            .fleet_lease(lease)
            .fleet_unreachable(OnUnreachable::Reject)
            .fleet
    }

    // ---- two clients that disagree on the lease's length ------------------------

    /// Promise (`fleet`): no more than the fleet limit holds a lease at once
    /// across every process (the only documented excesses: a paused holder, the
    /// `local` policy, nested calls). Attack: two processes of one fleet
    /// (limit 1) configured with different `fleet_lease`s — which nothing
    /// refuses, unlike a different limit, which the fleet reconciles. The
    /// short-leased one (200 ms) only asks once and goes away; every script it
    /// runs sets the expiry of *all* the group's keys, the `holders` set of the
    /// long-leased holder (10 s) included, to three of *its* leases (600 ms).
    /// Nobody is paused, Redis never restarts: a third client must still be
    /// refused while the long lease is held and renewed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_with_a_shorter_lease_cannot_expire_another_clients_lease() {
        let server = RedisServer::start();
        let long = Fleet::connect(
            "adv18_leases",
            &fleet_settings(&server, 1, Duration::from_secs(10)),
        )
        .unwrap();
        let short = Fleet::connect(
            "adv18_leases",
            &fleet_settings(&server, 1, Duration::from_millis(200)),
        )
        .unwrap();
        let third = Fleet::connect(
            "adv18_leases",
            &fleet_settings(&server, 1, Duration::from_secs(10)),
        )
        .unwrap();

        let held = tokio::time::timeout(Duration::from_secs(5), long.acquire())
            .await
            .expect("the free lease is granted at once")
            .expect("granted");
        // The short-leased client asks once (and queues), then gives up.
        let asking = tokio::time::timeout(Duration::from_millis(150), short.acquire()).await;
        assert!(asking.is_err(), "the only lease is held: it must wait");
        short.flush().await;
        // Well within the long lease (10 s, renewed at 3.3 s), past three short
        // leases (600 ms).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!held.is_lost(), "the holder has not been told of any loss");
        let intruder = tokio::time::timeout(Duration::from_millis(500), third.acquire()).await;
        let admitted = matches!(intruder, Ok(Ok(_)));
        assert!(
            !admitted,
            "a second lease was granted while the only one (limit 1) is held and renewed: \
         keys left in Redis: {:?}",
            server.keys("adv18_leases")
        );
        drop(held);
    }

    // ---- Redis restarted under a holder that does not know yet ----------------

    /// Promise (`fleet`, "A Redis that restarts empty over-admits too"): a
    /// server restarted without its data grants the limit again at once,
    /// and each holder learns of the loss at its next renewal, a third of a
    /// lease at most. Attack: limit 1, a 3 s lease (renewed every 1 s) held
    /// by one client; Redis is killed and started again empty (`kill -9`,
    /// no persistence); another client asks at once. The window is what the
    /// docs say, and no longer: the second lease is granted beside a holder
    /// that does not know yet (two at once, the documented excess), and the
    /// holder's lease is reported lost within a third of a lease (plus a
    /// second of Redis' patience). (Written as a bug by the round, which the
    /// docs did not list; documented since, and measured here.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_restart_over_admits_only_until_the_holders_next_renewal() {
        let mut server = RedisServer::start();
        let lease = Duration::from_secs(3);
        let holder = Fleet::connect("adv18_restart", &fleet_settings(&server, 1, lease)).unwrap();
        let other = Fleet::connect("adv18_restart", &fleet_settings(&server, 1, lease)).unwrap();
        let held = tokio::time::timeout(Duration::from_secs(5), holder.acquire())
            .await
            .expect("granted at once")
            .expect("granted");
        server.restart();
        let restarted = std::time::Instant::now();
        // The restarted server grants the limit again (the documented window).
        let intruder = tokio::time::timeout(Duration::from_secs(5), other.acquire())
            .await
            .expect("the empty server grants at once")
            .expect("granted");
        // The holder learns of the loss at its next renewal.
        let bound = lease / 3 + Duration::from_secs(2);
        while !held.is_lost() {
            assert!(
                restarted.elapsed() < bound,
                "the holder still believes it holds the only lease {:?} after the restart",
                restarted.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!intruder.is_lost(), "the new lease is the one that counts");
        assert_eq!(holder.stats().lost, 1, "{:?}", holder.stats());
    }

    // ---- flush against a frozen Redis -------------------------------------------

    /// Promise (`Fleet::flush`): it "waits until every release this process has
    /// begun so far has been answered by Redis (or given up after a lease length
    /// of retries)" — nothing hangs. Attack: the release of a dropped lease is
    /// sent to a Redis that is frozen (`SIGSTOP`: its socket accepts, it never
    /// answers), not gone. `flush` must return within a bound of a few leases;
    /// after `SIGCONT` the fleet works again (a new lease is granted) and
    /// `FleetStats` balances (`acquired` = `released` + `lost`, nothing held).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flush_with_a_frozen_redis_gives_up_in_bounded_time() {
        let server = RedisServer::start();
        let lease = Duration::from_millis(1000);
        let fleet = Fleet::connect("adv18_frozen", &fleet_settings(&server, 1, lease)).unwrap();
        let held = tokio::time::timeout(Duration::from_secs(5), fleet.acquire())
            .await
            .unwrap()
            .unwrap();
        signal(server.pid(), "-STOP");
        drop(held);
        let flushed = tokio::time::timeout(Duration::from_secs(8), fleet.flush()).await;
        signal(server.pid(), "-CONT");
        assert!(flushed.is_ok(), "flush hung on a frozen Redis");
        // The fleet works again once Redis answers (a stale lease, if the
        // release was given up, expires within a lease).
        let again = tokio::time::timeout(Duration::from_secs(10), fleet.acquire()).await;
        let again = again.expect("a lease within a few leases of Redis answering again");
        let again = again.expect("granted");
        again.release().await;
        fleet.flush().await;
        let stats = fleet.stats();
        assert_eq!(stats.held, 0, "{stats:?}");
        assert_eq!(stats.waiting, 0, "{stats:?}");
        assert_eq!(stats.acquired, 2, "{stats:?}");
        assert_eq!(stats.acquired, stats.released + stats.lost, "{stats:?}");
    }

    fn signal(pid: u32, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

// ---- test isolation of a fleet group ----------------------------------------

#[cfg(all(feature = "redis", feature = "test-util"))]
mod isolated_fleet {
    use super::common::{config_turn, Meter};
    use super::redis_server::*;
    use pool_runtime::config::{self, Effect};
    use pool_runtime::fleet::Fleet;
    use pool_runtime::{register_group, Group, GroupSpec};
    use std::time::Duration;

    /// Given its fleet (limit, URL, lease) by configuration: its URL is the
    /// test's own `redis-server`'s.
    static ISO_FLEET: Group = Group::new(GroupSpec::new("adv18::iso_fleet").size(4));
    register_group!(ISO_FLEET);

    fn fleet_config(server: &RedisServer, limit: usize) -> String {
        format!(
            "[groups.\"adv18::iso_fleet\"]\nfleet_limit = {limit}\nfleet_url = \"{}\"\n\
             fleet_lease = \"1s\"\n",
            server.url()
        )
    }

    /// Promises (`Group::isolate`): "a group with a fleet-wide limit keeps
    /// its one fleet, whose leases every process (and so every test)
    /// shares"; (`fleet`) settings take effect at a group's first use, and
    /// `Group::settings` "keeps those the fleet runs with"; a load's report
    /// says when each change takes effect. Attack: a test isolates a fleet
    /// group that has never started (limit 1 from the configuration) and
    /// calls it — its calls must wait for the lease another client holds.
    /// Then, the guard dropped, a load raises the limit to 2 while the
    /// shared pool still has not started (the report's effect for it is
    /// read), and the shared pool starts. The fleet the group's calls run
    /// under must be the one its settings (and the report) describe.
    #[test]
    fn an_isolated_first_use_of_a_fleet_group_keeps_its_fleet_and_its_settings_agreeing() {
        let _turn = config_turn();
        let server = RedisServer::start();
        config::load_str("adv18.toml", &fleet_config(&server, 1)).unwrap();
        let runtime = super::common::runtime();
        let other = Fleet::connect("adv18::iso_fleet", &ISO_FLEET.settings().fleet).unwrap();
        runtime.block_on(async {
            let guard = ISO_FLEET.isolate();
            let held = tokio::time::timeout(Duration::from_secs(5), other.acquire())
                .await
                .unwrap()
                .unwrap();
            let meter = Meter::default();
            let call = tokio::spawn(ISO_FLEET.submit(0, meter.clone().body(10)));
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(
                meter.max(),
                0,
                "an isolated call ran while the fleet's only lease was held elsewhere"
            );
            held.release().await;
            tokio::time::timeout(Duration::from_secs(10), call)
                .await
                .expect("the isolated call runs once the lease is free")
                .unwrap()
                .unwrap();
            assert_eq!(meter.max(), 1);
            drop(guard);
        });
        // (The fleet's first use starts the shared pool, whose settings the
        // fleet is made with: a later load then reports its fleet change as
        // taking effect at restart, and the fleet agrees with `settings()`.)
        assert!(ISO_FLEET.is_started(), "the fleet's group started with it");
        let report = config::load_str("adv18.toml", &fleet_config(&server, 2)).unwrap();
        let change = report
            .changes
            .iter()
            .find(|c| c.group == "adv18::iso_fleet" && c.setting == "fleet_limit")
            .cloned()
            .expect("the load reports the new fleet limit");
        let _ = ISO_FLEET.run(|| ());
        let running = ISO_FLEET.fleet_stats().expect("a fleet group").limit;
        let settings = ISO_FLEET.settings().fleet.limit;
        let _ = config::clear();
        assert_eq!(
            Some(running),
            settings,
            "the fleet runs with a limit of {running}, `settings()` says {settings:?}; the load \
             reported {change:?}"
        );
        if change.effect == Effect::AtFirstUse {
            assert_eq!(
                running, 2,
                "reported to take effect at first use: {change:?}"
            );
        }
    }
}

// ---- config::watch under a file rewritten fast -------------------------------

mod watched {
    use super::common::config_turn;
    use pool_runtime::config::{self, ConfigError, Report};
    use pool_runtime::{register_group, Group, GroupSpec};
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Declared with a size of 1: a size of 1 is the sign that an empty
    /// file (a configuration of defaults) was loaded.
    static W_TRUNC: Group = Group::new(GroupSpec::new("adv18::w_trunc").size(1));
    register_group!(W_TRUNC);
    /// Two groups every valid content sizes alike (half a load would size
    /// them apart).
    static W_A: Group = Group::new(GroupSpec::new("adv18::w_a").size(1));
    register_group!(W_A);
    static W_B: Group = Group::new(GroupSpec::new("adv18::w_b").size(1));
    register_group!(W_B);

    fn temp_file(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("adv18-{tag}-{}.toml", std::process::id()))
    }

    fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Promise (`config::watch`): "a change is loaded once the content has
    /// held still for 20 ms (or `every`, if shorter), so that a file caught
    /// in the middle of a save — truncated and not yet written again, which
    /// would read as an empty, valid configuration of defaults — is not
    /// loaded"; a file briefly gone is an error, passed once. Attack: a
    /// save that truncates the file and then removes it (an editor that
    /// writes a new file under the name afterwards), the truncated file
    /// living 8 ms, less than the 20 ms it must hold still. Forty rounds; in
    /// none may the empty content be loaded (the group's size falling back
    /// to its declared 1).
    #[test]
    fn a_truncated_file_removed_before_it_settles_is_never_loaded() {
        let _turn = config_turn();
        let path = temp_file("trunc");
        let content = |size: usize| format!("[groups.\"adv18::w_trunc\"]\nsize = {size}\n");
        std::fs::write(&path, content(3)).unwrap();
        let sizes_after_loads = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes_after_loads.clone();
        let watch = config::watch(&path, Duration::from_millis(20), move |outcome| {
            if outcome.is_ok() {
                seen.lock().unwrap().push(W_TRUNC.size());
            }
        })
        .unwrap();
        assert_eq!(W_TRUNC.size(), 3);
        let mut fell_back = false;
        for round in 0..40 {
            let size = 3 + round % 2;
            std::fs::write(&path, content(size)).unwrap();
            assert!(
                wait_until(Duration::from_secs(5), || W_TRUNC.size() == size),
                "round {round}: the settled content (size {size}) was never applied"
            );
            // Truncated (an empty, valid configuration), then gone.
            // At another point of the watch's 20 ms cycle each round.
            std::thread::sleep(Duration::from_millis((round * 7 % 20) as u64));
            let truncated = Instant::now();
            drop(std::fs::File::create(&path).unwrap());
            std::thread::sleep(Duration::from_millis(8));
            std::fs::remove_file(&path).unwrap();
            // A truncated file that lived 20 ms or more (this thread slept
            // longer than asked) held still: loading it is no fault.
            let lived = truncated.elapsed();
            std::thread::sleep(Duration::from_millis(80));
            if W_TRUNC.size() == 1 && lived < Duration::from_millis(20) {
                fell_back = true;
                break;
            }
            sizes_after_loads.lock().unwrap().clear();
        }
        drop(watch);
        let _ = std::fs::remove_file(&path);
        let _ = config::clear();
        let seen = sizes_after_loads.lock().unwrap().clone();
        assert!(
            !fell_back,
            "an empty file that never held still was loaded (sizes after each load: {seen:?})"
        );
    }

    /// Promise (`config::watch`): each change is loaded all or nothing (a
    /// file saved half-edited or wrong changes no setting), and the content
    /// the file settles on ends up applied. Attack: 300 rewrites in a row
    /// with no pause — in place (truncate + write), through a rename over
    /// the file, valid contents and broken ones (a valid first table, then
    /// a syntax error; a value of the wrong type) — during calls of the
    /// groups; then a last valid content held still. After every load the
    /// watch reports, both groups have one size (never half a load); the
    /// last content is applied within a bound; the calls made meanwhile are
    /// all accounted for and never exceeded the largest size.
    #[test]
    fn a_file_rewritten_without_pause_settles_on_its_last_content_all_or_nothing() {
        let _turn = config_turn();
        let path = temp_file("rapid");
        let tmp = temp_file("rapid-tmp");
        let valid = |size: usize| {
            format!(
                "[groups.\"adv18::w_a\"]\nsize = {size}\n[groups.\"adv18::w_b\"]\nsize = {size}\n"
            )
        };
        std::fs::write(&path, valid(2)).unwrap();
        let torn = Arc::new(Mutex::new(Vec::<String>::new()));
        let outcomes = Arc::new(Mutex::new((0usize, 0usize)));
        let (t, o) = (torn.clone(), outcomes.clone());
        let watch = config::watch(
            &path,
            Duration::from_millis(5),
            move |outcome: Result<Report, ConfigError>| {
                let mut counts = o.lock().unwrap();
                match outcome {
                    Ok(_) => {
                        counts.0 += 1;
                        let (a, b) = (W_A.size(), W_B.size());
                        if a != b {
                            t.lock().unwrap().push(format!("w_a {a}, w_b {b}"));
                        }
                    }
                    Err(_) => counts.1 += 1,
                }
            },
        )
        .unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let meter = super::common::Meter::default();
        let callers: Vec<_> = (0..3)
            .map(|i| {
                let (stop, meter) = (stop.clone(), meter.clone());
                std::thread::spawn(move || {
                    let group = if i % 2 == 0 { &W_A } else { &W_B };
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        group.run_wait(0, || {
                            let _in = meter.enter();
                            std::thread::sleep(Duration::from_micros(200));
                        });
                    }
                })
            })
            .collect();
        for i in 0..300usize {
            let text = match i % 5 {
                0 | 1 => valid(1 + i % 7),
                2 => format!("{}[groups.\"adv18::w_b\"\nsize = 9\n", valid(8)),
                3 => "[groups.\"adv18::w_a\"]\nsize = \"nine\"\n".to_owned(),
                _ => valid(1 + (i * 3) % 7),
            };
            if i % 3 == 0 {
                std::fs::write(&tmp, &text).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
            } else {
                std::fs::write(&path, &text).unwrap();
            }
        }
        std::fs::write(&path, valid(5)).unwrap();
        let settled = wait_until(Duration::from_secs(10), || {
            W_A.size() == 5 && W_B.size() == 5
        });
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for caller in callers {
            caller.join().unwrap();
        }
        drop(watch);
        let _ = std::fs::remove_file(&path);
        let (a_size, b_size) = (W_A.size(), W_B.size());
        let _ = config::clear();
        assert!(
            settled,
            "the last content (size 5) was not applied: w_a {a_size}, w_b {b_size}; outcomes {:?}",
            outcomes.lock().unwrap()
        );
        assert!(
            torn.lock().unwrap().is_empty(),
            "half a load: {:?}",
            torn.lock().unwrap()
        );
        assert!(
            meter.max() <= 7,
            "more calls at once ({}) than any size",
            meter.max()
        );
        for group in [&W_A, &W_B] {
            let stats = group.stats();
            super::common::assert_accounted(&stats);
            assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        }
    }
}

// ---- the rayon executor ---------------------------------------------------------

#[cfg(feature = "rayon")]
mod on_rayon {
    use super::common::{assert_accounted, quiet_planned_panics, within, Meter};
    use pool_runtime::{Pool, RayonExecutor, Rejected};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::Duration;

    const BOUND: Duration = Duration::from_secs(20);

    fn one_thread(name: &'static str) -> Arc<rayon::ThreadPool> {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(move |_| name.to_owned())
                .build()
                .unwrap(),
        )
    }

    /// `pool.submit_blocking(f)` as a task of `runtime`.
    fn call<T: Send + 'static>(
        runtime: &tokio::runtime::Runtime,
        pool: &Pool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<T, Rejected>> {
        let pool = pool.clone();
        runtime.spawn(async move { pool.submit_blocking(f).await })
    }

    fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let start = std::time::Instant::now();
        while !done() {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Promises (`RayonExecutor`, `Pool`): "a job holds its slot from
    /// admission on, including while it waits for a free rayon thread"; the
    /// slot "is released on the rayon thread when the closure returns or
    /// panics"; nothing is lost (every submission in `Stats`); nothing
    /// hangs. Attack: a rayon pool of one thread, saturated by a job the
    /// pool does not know of; a pool of 2 takes 6 blocking calls — two get
    /// their slots and queue behind the stranger on rayon, four wait for a
    /// slot. Then every caller is dropped: those holding a queued job, those
    /// waiting for a slot. The stranger is let go. The two queued closures
    /// still run (the caller stopped waiting; the job cannot be recalled),
    /// never more than 2 at once, their slots come back, and the counts
    /// balance with nothing running or waiting.
    #[test]
    fn callers_dropped_while_their_jobs_queue_behind_a_saturated_rayon_pool() {
        within(BOUND, || {
            let threads = one_thread("adv18-saturated");
            let pool = Pool::builder()
                .size(2)
                .blocking_executor(Arc::new(RayonExecutor::new(threads.clone())))
                .build()
                .unwrap();
            let stranger_go = Arc::new(AtomicBool::new(false));
            let go = stranger_go.clone();
            threads.spawn(move || {
                while !go.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            let meter = Meter::default();
            let ran = Arc::new(AtomicUsize::new(0));
            let runtime = super::common::runtime();
            let calls: Vec<_> = (0..6)
                .map(|_| {
                    let (meter, ran) = (meter.clone(), ran.clone());
                    call(&runtime, &pool, move || {
                        let _in = meter.enter();
                        ran.fetch_add(1, SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                    })
                })
                .collect();
            assert!(
                wait_for(Duration::from_secs(5), || {
                    let s = pool.stats();
                    s.running == 2 && s.waiting == 4
                }),
                "two jobs hold their slots while queued on rayon, four wait: {:?}",
                pool.stats()
            );
            for call in &calls {
                call.abort();
            }
            for call in calls {
                let _ = runtime.block_on(call);
            }
            assert_eq!(meter.max(), 0, "nothing ran while rayon's thread was taken");
            stranger_go.store(true, SeqCst);
            assert!(
                wait_for(Duration::from_secs(5), || {
                    let s = pool.stats();
                    s.running == 0 && s.waiting == 0
                }),
                "the slots came back: {:?}",
                pool.stats()
            );
            assert!(meter.max() <= 2);
            let stats = pool.stats();
            assert_accounted(&stats);
            assert_eq!(
                stats.completed + stats.cancelled,
                6,
                "every call ran or was cancelled ({} closures ran): {stats:?}",
                ran.load(SeqCst)
            );
            // Both slots are free: two calls run at once again.
            let again: Vec<_> = (0..2).map(|_| call(&runtime, &pool, || 1)).collect();
            for call in again {
                assert_eq!(runtime.block_on(call).unwrap(), Ok(1));
            }
        });
    }

    /// Promises: a panic in a job reaches the caller and frees the slot —
    /// and when the caller is gone, it reaches nobody and still frees it;
    /// rayon's answer to a panicking spawned job (aborting the process)
    /// never happens; nothing is lost. Attack: on a rayon pool of one
    /// thread, a pool of one; a job that panics once its caller was dropped
    /// (the job is started, the caller dropped, then the job panics), with
    /// a second call waiting for the slot meanwhile. The second call runs
    /// (on the same rayon thread, which survived), and the counts balance:
    /// one panicked, the dropped caller's call not counted twice.
    #[test]
    fn a_job_panicking_after_its_caller_went_away_frees_its_slot_on_rayon() {
        quiet_planned_panics();
        within(BOUND, || {
            let threads = one_thread("adv18-panics");
            let pool = Pool::builder()
                .size(1)
                .blocking_executor(Arc::new(RayonExecutor::new(threads.clone())))
                .build()
                .unwrap();
            let started = Arc::new(AtomicBool::new(false));
            let panic_now = Arc::new(AtomicBool::new(false));
            let (s, p) = (started.clone(), panic_now.clone());
            let runtime = super::common::runtime();
            let doomed = call(&runtime, &pool, move || {
                s.store(true, SeqCst);
                while !p.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                panic!("planned: rayon job after its caller went away");
            });
            assert!(wait_for(Duration::from_secs(5), || started.load(SeqCst)));
            let second = call(&runtime, &pool, || 2);
            assert!(wait_for(Duration::from_secs(5), || pool.stats().waiting == 1));
            doomed.abort();
            let _ = runtime.block_on(doomed);
            panic_now.store(true, SeqCst);
            let second = runtime.block_on(second).unwrap();
            assert_eq!(second, Ok(2), "the waiting call got the freed slot");
            let stats = pool.stats();
            assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
            assert_eq!(stats.panicked, 1, "{stats:?}");
            assert_accounted(&stats);
            assert_eq!(stats.submitted(), 2, "{stats:?}");
            // The rayon thread survived the panic.
            assert_eq!(threads.install(|| 40 + 2), 42);
            // A panic whose caller still waits reaches it.
            let caught = catch_unwind(AssertUnwindSafe(|| {
                runtime.block_on(pool.submit_blocking(|| -> u8 { panic!("planned: again") }))
            }));
            assert!(caught.is_err());
            assert_eq!(runtime.block_on(pool.submit_blocking(|| 3)), Ok(3));
        });
    }

    /// Promises: a nested call made from inside a blocking closure runs
    /// under its slot (so a pool of one cannot deadlock on itself), on
    /// every sync path; no more than the limit runs at once. Attack: a
    /// rayon pool of ONE thread, a pool of one: the closure, on the only
    /// rayon thread, makes nested sync calls of its own pool (`run`,
    /// `run_weighted`, `try_acquire`, `acquire` driven by `block_on`, a
    /// nested `submit` awaited with `block_on`), one after another and two
    /// deep, while four other
    /// callers wait for the slot. Nothing may hang; the outer closures run
    /// one at a time.
    #[test]
    fn nested_sync_calls_from_the_only_rayon_thread_run_under_the_jobs_slot() {
        within(BOUND, || {
            let threads = one_thread("adv18-nested");
            let pool = Pool::builder()
                .size(1)
                .blocking_executor(Arc::new(RayonExecutor::new(threads)))
                .build()
                .unwrap();
            let meter = Meter::default();
            let runtime = super::common::runtime();
            let calls: Vec<_> = (0..5)
                .map(|_| {
                    let (inner, meter) = (pool.clone(), meter.clone());
                    call(&runtime, &pool, move || {
                        let _in = meter.enter();
                        let a = inner.run(|| inner.run_weighted(0, || 1).unwrap()).unwrap();
                        let permit = inner.try_acquire().expect("the job's slot is lent");
                        drop(permit);
                        let b = futures::executor::block_on(async {
                            // Dropped before the next nested call: while it
                            // lived, the job's slot was lent to it (see
                            // `Pool`'s *Reentrancy*).
                            drop(inner.acquire().await.unwrap());
                            inner.submit(async { 2 }).await.unwrap()
                        });
                        a + b
                    })
                })
                .collect();
            for call in calls {
                assert_eq!(runtime.block_on(call).unwrap(), Ok(3));
            }
            assert_eq!(meter.max(), 1);
            let stats = pool.stats();
            assert_accounted(&stats);
            assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
        });
    }
}

// ---- a fleet group's first use racing a load ------------------------------------

#[cfg(feature = "redis")]
mod first_use_racing_a_load {
    use super::common::{config_turn, within};
    use super::redis_server::*;
    use pool_runtime::config::{self, Effect};
    use pool_runtime::{register_group, Group, GroupSpec};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    macro_rules! racers {
        ($($name:ident = $text:literal),* $(,)?) => {
            $(
                static $name: Group = Group::new(GroupSpec::new($text).size(2));
                register_group!($name);
            )*
            const RACERS: &[(&Group, &str)] = &[$((&$name, $text)),*];
        };
    }
    racers!(
        R0 = "adv18::race0",
        R1 = "adv18::race1",
        R2 = "adv18::race2",
        R3 = "adv18::race3",
        R4 = "adv18::race4",
        R5 = "adv18::race5",
        R6 = "adv18::race6",
        R7 = "adv18::race7",
        R8 = "adv18::race8",
        R9 = "adv18::race9",
        R10 = "adv18::race10",
        R11 = "adv18::race11",
    );

    fn config(server: &RedisServer, names: &[&str], limit: usize) -> String {
        names
            .iter()
            .map(|name| {
                format!(
                    "[groups.\"{name}\"]\nfleet_limit = {limit}\nfleet_url = \"{}\"\n\
                     fleet_lease = \"1s\"\n",
                    server.url()
                )
            })
            .collect()
    }

    /// Promises (`fleet`): settings take effect at a group's first use; a
    /// reload does not change a running group's fleet and says so
    /// (`AtRestart`); `Group::settings` keeps those the fleet runs with; a
    /// load's report says when each change takes effect. Attack: twelve
    /// fleet groups (limit 1 from the configuration), each's first use (a
    /// sync call, which sets up its fleet) started at the same moment as a
    /// load raising every limit to 2. Whichever wins, each group's fleet
    /// must run with the limit its `settings()` show, and a change reported
    /// `AtFirstUse` must be the one it runs with.
    #[test]
    fn a_fleet_groups_first_use_racing_a_load_runs_what_settings_and_report_say() {
        let _turn = config_turn();
        let server = RedisServer::start();
        let names: Vec<&str> = RACERS.iter().map(|(_, name)| *name).collect();
        config::load_str("adv18-race.toml", &config(&server, &names, 1)).unwrap();
        let mut mismatches = Vec::new();
        for (group, name) in RACERS.iter().copied() {
            let start = Arc::new(Barrier::new(2));
            let go = start.clone();
            let user = std::thread::spawn(move || {
                go.wait();
                group.run(|| ()).unwrap();
            });
            start.wait();
            let report = config::load_str("adv18-race.toml", &config(&server, &[name], 2))
                .expect("a valid load");
            within(Duration::from_secs(20), move || user.join().unwrap());
            let running = group.fleet_stats().expect("a fleet group").limit;
            let settings = group.settings().fleet.limit;
            let effect = report
                .changes
                .iter()
                .find(|c| c.group == name && c.setting == "fleet_limit")
                .map(|c| c.effect);
            if Some(running) != settings || (effect == Some(Effect::AtFirstUse) && running != 2) {
                mismatches.push(format!(
                    "{name}: fleet limit {running}, settings {settings:?}, reported {effect:?}"
                ));
            }
            // Back to a limit of 1 for the others (their configuration).
            config::load_str("adv18-race.toml", &config(&server, &names, 1)).unwrap();
        }
        let _ = config::clear();
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }
}
