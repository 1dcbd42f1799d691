//! Hostile acceptance tests of features `metrics` and `tracing`, round 2: a
//! recorder of our own counts every metric by name and labels, and on every
//! call path (submit, run, submit_blocking, spawn, permits, tower, stream),
//! through completions, panics, cancellations (waiting and running) and every
//! rejection, the `pooled.calls` counters must equal the pool's `Stats` and
//! the `running` / `waiting` gauges must come back to 0; a capturing
//! subscriber sees a `call` span with the documented `call` form and
//! `outcome` on each path.
#![cfg(all(feature = "metrics", feature = "tracing", feature = "tokio"))]

use pool_runtime::{Pool, PooledStreamExt, Rejected, Stats};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

mod common;
use common::{runtime, Capture};

fn metrics() -> &'static Capture {
    static METRICS: OnceLock<&'static Capture> = OnceLock::new();
    METRICS.get_or_init(|| {
        let m: &'static Capture = Box::leak(Box::default());
        metrics::set_global_recorder(m).expect("the only recorder");
        m
    })
}

fn counter(pool: &str, outcome: &str, reason: Option<&str>) -> u64 {
    metrics().calls(pool, outcome, reason)
}

fn gauge(name: &str, pool: &str) -> f64 {
    metrics().gauge(name, pool).unwrap_or(f64::NAN)
}

/// The pool is quiet: its gauges are back to 0 (and its limit gauge is its
/// size), and each counter equals what `Stats` counts.
fn assert_metrics_match(pool: &Pool, name: &str) {
    let s: Stats = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0), "{name}: quiet: {s:?}");
    assert_eq!(gauge("pooled.running", name), 0.0, "{name}: running gauge");
    assert_eq!(gauge("pooled.waiting", name), 0.0, "{name}: waiting gauge");
    assert_eq!(
        gauge("pooled.limit", name),
        pool.size() as f64,
        "{name}: limit gauge"
    );
    assert_eq!(
        counter(name, "completed", None),
        s.completed - s.panicked,
        "{name}: completed (Stats counts panicked calls in completed too): {s:?}"
    );
    assert_eq!(
        counter(name, "panicked", None),
        s.panicked,
        "{name}: panicked: {s:?}"
    );
    assert_eq!(
        counter(name, "cancelled", None),
        s.cancelled,
        "{name}: cancelled: {s:?}"
    );
    for reason in [
        Rejected::Paused,
        Rejected::Closed,
        Rejected::Full,
        Rejected::TimedOut,
    ] {
        assert_eq!(
            counter(name, "rejected", Some(reason.as_str())),
            s.rejected_for(reason),
            "{name}: rejected {reason:?}: {s:?}"
        );
    }
}

fn pool(name: &str, size: usize) -> Pool {
    metrics();
    Pool::builder()
        .name(name)
        .size(size)
        .max_waiting(2)
        .admission_timeout(Duration::from_millis(30))
        .build()
        .unwrap()
}

async fn until(mut condition: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("condition reached in time");
}

/// Exercises one pool through a call form: completions, a panic, a call
/// cancelled while waiting and one while running, and each rejection.
#[test]
fn submit_counters_equal_stats_and_gauges_return_to_zero() {
    let name = "adv_obs::submit";
    let p = pool(name, 1);
    runtime().block_on(async {
        for _ in 0..3 {
            p.submit(async {}).await.unwrap();
        }
        // A panic inside the work.
        let q = p.clone();
        let panicked = tokio::spawn(async move { q.submit(async { panic!("boom") }).await });
        assert!(panicked.await.is_err());
        // Hold the slot; one waits and is cancelled; one more waits and
        // times out; with two waiting, a third is Full.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let q = p.clone();
        let holder = tokio::spawn(async move { q.submit(async { rx.await.ok() }).await });
        until(|| p.stats().running == 1).await;
        let q = p.clone();
        let waiter = tokio::spawn(async move { q.submit(async {}).await });
        until(|| p.stats().waiting == 1).await;
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        let q = p.clone();
        let timed = tokio::spawn(async move { q.submit(async {}).await });
        let q = p.clone();
        let other = tokio::spawn(async move { q.submit(async {}).await });
        until(|| p.stats().waiting == 2).await;
        assert_eq!(p.submit(async {}).await, Err(Rejected::Full));
        assert_eq!(timed.await.unwrap(), Err(Rejected::TimedOut));
        assert_eq!(other.await.unwrap(), Err(Rejected::TimedOut));
        tx.send(()).unwrap();
        holder.await.unwrap().unwrap();
        // Cancelled while running.
        let q = p.clone();
        let running = tokio::spawn(async move { q.submit(std::future::pending::<()>()).await });
        until(|| p.stats().running == 1).await;
        running.abort();
        assert!(running.await.unwrap_err().is_cancelled());
        p.pause();
        assert_eq!(p.submit(async {}).await, Err(Rejected::Paused));
        p.resume();
        p.close();
        assert_eq!(p.submit(async {}).await, Err(Rejected::Closed));
    });
    assert_metrics_match(&p, name);
    let s = p.stats();
    assert_eq!((s.panicked, s.cancelled), (1, 2), "{s:?}");
}

#[test]
fn run_and_blocking_counters_equal_stats_and_gauges_return_to_zero() {
    let name = "adv_obs::sync";
    let p = pool(name, 1);
    assert_eq!(p.run(|| 1), Ok(1));
    let q = p.clone();
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        q.run(|| panic!("boom")).ok();
    }))
    .is_err());
    p.pause();
    assert_eq!(p.run(|| 1), Err(Rejected::Paused));
    p.resume();
    runtime().block_on(async {
        assert_eq!(p.submit_blocking(|| 2).await, Ok(2));
        let q = p.clone();
        let h = tokio::spawn(async move { q.submit_blocking(|| -> u8 { panic!("boom") }).await });
        assert!(h.await.is_err(), "the job's panic reaches its caller");
        // The caller goes away while its job runs.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let q = p.clone();
        let job = tokio::spawn(async move {
            q.submit_blocking(move || rx.recv_timeout(Duration::from_secs(5)).ok())
                .await
        });
        until(|| p.stats().running == 1).await;
        job.abort();
        let _ = job.await;
        tx.send(()).unwrap();
        until(|| p.stats().running == 0).await;
        // A sync caller times out while the slot is held.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let q = p.clone();
        let holder = std::thread::spawn(move || q.run(move || rx.recv().ok()));
        until(|| p.stats().running == 1).await;
        let q = p.clone();
        let timed = std::thread::spawn(move || q.run(|| ()));
        assert_eq!(timed.join().unwrap(), Err(Rejected::TimedOut));
        tx.send(()).unwrap();
        holder.join().unwrap().unwrap();
    });
    assert_metrics_match(&p, name);
}

#[test]
fn spawn_and_permit_counters_equal_stats_and_gauges_return_to_zero() {
    let name = "adv_obs::spawn_permit";
    let p = pool(name, 1);
    runtime().block_on(async {
        p.spawn(async {}).unwrap().await.unwrap();
        let h = p.spawn(std::future::pending::<()>()).unwrap();
        until(|| p.stats().running == 1).await;
        h.abort();
        let _ = h.await;
        until(|| p.stats().running == 0).await;
        let panicking = p.spawn(async { panic!("boom") }).unwrap();
        // Awaiting the handle resumes the panic: in a task of its own.
        assert!(tokio::spawn(panicking).await.is_err());

        let permit = p.acquire().await.unwrap();
        assert_eq!(gauge("pooled.running", name), 1.0, "a permit holds a slot");
        assert!(p.try_acquire().is_err(), "no free slot");
        let q = p.clone();
        let waiting = tokio::spawn(async move { q.acquire_owned(0).await.map(drop) });
        until(|| p.stats().waiting == 1).await;
        assert_eq!(gauge("pooled.waiting", name), 1.0);
        waiting.abort();
        let _ = waiting.await;
        drop(permit);
        let owned = p.acquire_owned(0).await.unwrap();
        drop(owned);
        let t = p.try_acquire_owned(0).unwrap();
        drop(t);
    });
    assert_metrics_match(&p, name);
}

#[test]
fn tower_and_stream_counters_equal_stats_and_gauges_return_to_zero() {
    use tower::{Layer, Service, ServiceExt};
    let name = "adv_obs::tower_stream";
    let p = pool(name, 2);
    runtime().block_on(async {
        let svc = pool_runtime::tower::PooledLayer::pool(p.clone()).layer(tower::service_fn(
            |x: u32| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, std::convert::Infallible>(x)
            },
        ));
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let svc = svc.clone();
                tokio::spawn(async move { svc.oneshot(i).await.map_err(|e| e.to_string()) })
            })
            .collect();
        for c in calls {
            let _ = c.await.unwrap();
        }
        // A service made ready, then dropped without a call.
        let mut ready = svc.clone();
        ready.ready().await.unwrap();
        drop(ready);
        let mut ready = svc.clone();
        let _ = ready.ready().await.unwrap().call(1).await;

        let out: Vec<_> = futures::StreamExt::collect(
            futures::stream::iter((0..10).map(|i| async move { i })).pooled_unordered(&p),
        )
        .await;
        assert_eq!(out.len(), 10);
        // A stream dropped part-way.
        let mut s = Box::pin(
            futures::stream::iter((0..10).map(|_| std::future::pending::<()>())).pooled_ordered(&p),
        );
        let _ =
            tokio::time::timeout(Duration::from_millis(20), futures::StreamExt::next(&mut s)).await;
        drop(s);
    });
    assert_metrics_match(&p, name);
}

/// A dropped pool takes its limit out of the `pooled.limit` gauge, so a pool
/// rebuilt under the same name reports its own limit, not the sum.
#[test]
fn a_dropped_pool_leaves_the_limit_gauge() {
    let name = "adv_obs::rebuilt";
    let first = pool(name, 4);
    assert_eq!(gauge("pooled.limit", name), 4.0);
    assert_eq!(first.run(|| 1), Ok(1));
    drop(first);
    let second = pool(name, 2);
    assert_eq!(gauge("pooled.limit", name), 2.0);
    assert_eq!(second.scale(3), 5);
    assert_eq!(gauge("pooled.limit", name), 5.0);
}

// ---------------------------------------------------------------------------
// Isolation (feature `test-util`): a group's isolated instance reports under
// the group's name while its guard lives; once the guard is dropped its limit
// leaves `pooled.limit` and its calls leave `running`/`waiting` as they end,
// so the gauges go back to what they were, whatever races the drop.

#[cfg(feature = "test-util")]
mod isolation {
    use super::*;
    use pool_runtime::{Group, GroupSpec};
    use std::sync::atomic::AtomicBool;
    use std::sync::Barrier;

    fn limit(name: &str) -> f64 {
        gauge("pooled.limit", name)
    }

    /// Starts the group's shared pool (after the recorder, so it reports)
    /// and returns its limit gauge.
    fn started(group: &'static Group) -> f64 {
        metrics();
        assert_eq!(group.run(|| ()), Ok(()));
        limit(group.name())
    }

    #[test]
    fn a_dropped_guard_takes_its_instance_out_of_the_limit_gauge() {
        static GROUP: Group = Group::new(GroupSpec::new("adv_obs::iso::plain").size(3));
        let name = GROUP.name();
        assert_eq!(started(&GROUP), 3.0);
        let guard = GROUP.isolate();
        assert_eq!(limit(name), 6.0, "both pools report under the name");
        assert_eq!(GROUP.scale(2), 5, "the instance's");
        assert_eq!(limit(name), 8.0);
        let stale = guard.pool();
        drop(guard);
        assert_eq!(limit(name), 3.0, "back to what it was");
        // The instance outlives its guard (a `&'static Pool`): what is done
        // to it now moves the gauges of the name no more.
        assert_eq!(stale.scale(4), 9);
        assert_eq!(stale.resize(1), 1);
        stale.close();
        assert_eq!(limit(name), 3.0);
        assert_eq!(GROUP.scale(1), 4, "the shared pool's");
        assert_eq!(limit(name), 4.0, "the shared pool still reports");
        // Nested guards, dropped out of order, one on another thread.
        let outer = GROUP.isolate();
        let inner = GROUP.isolate();
        // (Each instance starts with the group's settings: size 3.)
        assert_eq!(limit(name), 4.0 + 3.0 + 3.0);
        std::thread::spawn(move || drop(outer)).join().unwrap();
        assert_eq!(limit(name), 7.0);
        drop(inner);
        assert_eq!(limit(name), 4.0);
        assert_eq!(gauge("pooled.running", name), 0.0);
        assert_eq!(gauge("pooled.waiting", name), 0.0);
    }

    #[test]
    fn calls_running_and_waiting_when_the_guard_drops_leave_the_gauges_as_they_end() {
        static GROUP: Group = Group::new(GroupSpec::new("adv_obs::iso::busy").size(2));
        let name = GROUP.name();
        assert_eq!(started(&GROUP), 2.0);
        runtime().block_on(async {
            let guard = GROUP.isolate();
            let isolated = guard.pool();
            let (go, wait) = tokio::sync::watch::channel(false);
            let calls: Vec<_> = (0..5)
                .map(|_| {
                    let mut wait = wait.clone();
                    tokio::spawn(GROUP.submit(0, async move {
                        let _ = wait.wait_for(|go| *go).await;
                    }))
                })
                .collect();
            until(|| gauge("pooled.running", name) == 2.0).await;
            until(|| gauge("pooled.waiting", name) == 3.0).await;
            assert_eq!(limit(name), 4.0);
            drop(guard); // while two run and three wait
            assert_eq!(limit(name), 2.0, "its limit leaves with the guard");
            assert_eq!(GROUP.submit(0, async { 1 }).await, Ok(1), "shared");
            // The instance's limit changes after the guard is gone (one more
            // of its calls is admitted): no gauge of the name's moves for it.
            assert_eq!(isolated.scale(1), 3);
            until(|| gauge("pooled.running", name) == 3.0).await;
            assert_eq!(limit(name), 2.0);
            go.send(true).unwrap();
            for call in calls {
                tokio::time::timeout(Duration::from_secs(5), call)
                    .await
                    .expect("no hang")
                    .unwrap()
                    .unwrap();
            }
            until(|| gauge("pooled.running", name) == 0.0).await;
            until(|| gauge("pooled.waiting", name) == 0.0).await;
            let s = isolated.stats();
            assert_eq!((s.completed, s.running, s.waiting), (5, 0, 0), "{s:?}");
        });
        assert_eq!(limit(name), 2.0);
        assert_eq!(GROUP.stats().completed, 2, "the first call and one more");
    }

    /// Limit changes of the instance (from threads holding its `&'static
    /// Pool`) and of the shared pool race the guard's drop: the gauge ends
    /// at the shared pool's limit every time, neither counting a change
    /// reported after the drop nor missing one made before it.
    #[test]
    fn limit_changes_racing_the_guards_drop_leave_the_gauge_exact() {
        static GROUP: Group = Group::new(GroupSpec::new("adv_obs::iso::race").size(4));
        let name = GROUP.name();
        assert_eq!(started(&GROUP), 4.0);
        for round in 0..200 {
            let guard = GROUP.isolate();
            let isolated = guard.pool();
            let start = Arc::new(Barrier::new(4));
            let mut threads: Vec<_> = (0..2)
                .map(|i| {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        for k in 0..50 {
                            isolated.scale(if (k + i) % 2 == 0 { 3 } else { -2 });
                        }
                    })
                })
                .collect();
            let shared_start = start.clone();
            threads.push(std::thread::spawn(move || {
                shared_start.wait();
                // Another thread: the shared pool, up and back down.
                for _ in 0..20 {
                    GROUP.scale(1);
                    GROUP.scale(-1);
                }
            }));
            start.wait();
            drop(guard);
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(limit(name), 4.0, "round {round}");
        }
        assert_eq!(GROUP.size(), 4);
    }

    /// Reloads of the group's configured size (which reach the shared pool
    /// only) race isolations made, used, scaled and dropped on other
    /// threads: the gauge ends at the shared pool's limit.
    #[cfg(feature = "config")]
    #[test]
    fn reloads_racing_isolations_leave_the_gauge_at_the_shared_limit() {
        static GROUP: Group = Group::new(GroupSpec::new("adv_obs::iso::reload").size(2));
        pool_runtime::register_group!(GROUP);
        let name = GROUP.name();
        assert_eq!(started(&GROUP), 2.0);
        let stop = Arc::new(AtomicBool::new(false));
        let tests: Vec<_> = (0..3)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut rounds = 0;
                    while !stop.load(Ordering::SeqCst) || rounds < 20 {
                        let _mine = GROUP.isolate();
                        assert_eq!(GROUP.run(|| ()), Ok(()));
                        GROUP.scale(i + 1);
                        rounds += 1;
                    }
                })
            })
            .collect();
        for size in [5, 3, 9, 1, 6, 2, 7] {
            let text = format!("[groups.\"{name}\"]\nsize = {size}\n");
            pool_runtime::config::load_str("obs.toml", &text).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::SeqCst);
        for t in tests {
            t.join().unwrap();
        }
        assert_eq!(GROUP.size(), 7, "the last reload");
        assert_eq!(limit(name), 7.0);
        pool_runtime::config::clear();
        assert_eq!((GROUP.size(), limit(name)), (2, 2.0));
    }
}

// ---------------------------------------------------------------------------
// Tracing: the `call` span's documented `call` form and `outcome` on each path.

mod spans {
    use super::*;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::Subscriber;
    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    type Fields = BTreeMap<String, String>;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<(u64, Fields)>>>);

    struct Text<'a>(&'a mut Fields);

    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: LayerContext<'_, S>) {
            if attrs.metadata().name() != "call" {
                return;
            }
            let mut fields = Fields::new();
            attrs.record(&mut Text(&mut fields));
            self.0.lock().unwrap().push((id.into_u64(), fields));
        }
        fn on_record(&self, id: &Id, values: &Record<'_>, _: LayerContext<'_, S>) {
            let mut seen = self.0.lock().unwrap();
            if let Some((_, f)) = seen.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
                values.record(&mut Text(f));
            }
        }
    }

    fn seen(capture: &Capture, pool: &str) -> Vec<(String, String)> {
        capture
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, f)| f.get("pool").map(String::as_str) == Some(pool))
            .map(|(_, f)| {
                (
                    f.get("call").cloned().unwrap_or_default(),
                    f.get("outcome").cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// In a process of its own: `tracing` caches a callsite's interest
    /// process-wide, and a test of this file calling a pool on a thread
    /// without a subscriber at the moment this one's subscriber is set can
    /// leave the call span's callsite cached as never wanted (seen once in
    /// a CI run: no span at all).
    #[test]
    fn every_call_path_has_a_span_with_its_form_and_outcome() {
        crate::common::in_child_process(
            "spans::every_call_path_has_a_span_with_its_form_and_outcome",
            &[],
            every_call_path_has_a_span,
        );
    }

    fn every_call_path_has_a_span() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        let name = "adv_obs::spans";
        let p = pool(name, 1);
        tracing::subscriber::with_default(subscriber, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                p.submit(async {}).await.unwrap();
                p.run(|| ()).unwrap();
                p.submit_blocking(|| ()).await.unwrap();
                p.spawn(async {}).unwrap().await.unwrap();
                drop(p.acquire().await.unwrap());
                drop(p.try_acquire().unwrap());
                drop(p.acquire_owned(0).await.unwrap());
                let q = p.clone();
                let h = tokio::spawn(async move { q.submit(async { panic!("boom") }).await });
                assert!(h.await.is_err());
                let running = p.submit(std::future::pending::<()>());
                let _ = tokio::time::timeout(Duration::from_millis(5), running).await;
                p.pause();
                assert_eq!(p.submit(async {}).await, Err(Rejected::Paused));
                assert_eq!(p.run(|| ()), Err(Rejected::Paused));
                p.resume();
            });
        });
        let got = seen(&capture, name);
        let expected: Vec<(String, String)> = [
            ("submit", "completed"),
            ("run", "completed"),
            ("blocking", "completed"),
            ("spawn", "completed"),
            ("permit", "completed"),
            ("permit", "completed"),
            ("permit", "completed"),
            ("submit", "panicked"),
            ("submit", "cancelled"),
            ("submit", "rejected"),
            ("run", "rejected"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(got, expected);
    }
}
