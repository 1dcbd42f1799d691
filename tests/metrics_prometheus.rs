//! Feature `metrics`: a Prometheus recorder is installed, pools take calls,
//! turn some away and change their limits, and the scrape shows each series
//! with the values `Stats` counts.
#![cfg(feature = "metrics")]

use futures::executor::block_on;
use metrics_exporter_prometheus::PrometheusBuilder;
use pooled::{AdaptiveSettings, Kind, ManualClock, Pool, Rejected, ScalePolicy};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The value of the series `name{labels}` (labels in any order) in `text`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
        let mut found: Vec<&str> = rest.trim_end_matches('}').split(',').collect();
        found.retain(|l| !l.is_empty());
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        found.sort_unstable();
        wanted.sort_unstable();
        (series_name == name && found == wanted).then(|| value.parse().ok())?
    })
}

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_scrape_shows_calls_by_outcome_gauges_histograms_and_adaptive_latency() {
    let recorder = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .build_recorder();
    let scrape = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this process");
    pooled::observe::time_calls(true);

    let clock = ManualClock::new();
    let db = Pool::builder()
        .name("db")
        .size(2)
        .max_waiting(1)
        .admission_timeout(Duration::from_secs(3600))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    // Three calls complete; one panics; one is cancelled while it runs.
    for i in 0..3 {
        assert_eq!(block_on(db.submit(async move { i })), Ok(i));
    }
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.run(|| panic!("boom"))));
    assert!(panicked.is_err());
    {
        let mut running = pin!(db.submit(std::future::pending::<()>()));
        assert!(poll_once(running.as_mut()).is_pending());
        assert_eq!(db.stats().running, 1);
    }
    // Both slots held: one call waits 2 s (of the pool's clock), the next
    // finds the queue full.
    let permits = [db.try_acquire().unwrap(), db.try_acquire().unwrap()];
    let mut waiting = pin!(db.submit(async {}));
    assert!(poll_once(waiting.as_mut()).is_pending());
    assert_eq!(
        value(&scrape.render(), "pooled_waiting", &[("pool", "db")]),
        Some(1.0)
    );
    assert_eq!(block_on(db.submit(async {})), Err(Rejected::Full));
    clock.advance(Duration::from_secs(2));
    drop(permits);
    assert_eq!(poll_once(waiting.as_mut()), Poll::Ready(Ok(())));
    // Paused, then closed.
    db.pause();
    assert_eq!(block_on(db.submit(async {})), Err(Rejected::Paused));
    db.resume();
    // A limit change.
    assert_eq!(db.scale(3), 5);
    db.close();
    assert_eq!(db.run(|| ()), Err(Rejected::Closed));

    // An adaptive pool: one window of five 20 ms calls (at one slot a
    // window of the start holds four rounds of the limit, not ten calls,
    // and spans 100 ms).
    let api = Pool::builder()
        .name("api")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    // The last call (a permit) ends while another waits for its slot: the
    // limit bound, so the start grows it, from one slot to three.
    for _ in 0..4 {
        assert_eq!(api.run(|| clock.advance(Duration::from_millis(20))), Ok(()));
    }
    let permit = api.try_acquire().unwrap();
    let mut queued = pin!(api.submit(async {}));
    assert!(poll_once(queued.as_mut()).is_pending());
    clock.advance(Duration::from_millis(20));
    drop(permit);
    assert_eq!(api.size(), 3);
    assert_eq!(poll_once(queued.as_mut()), Poll::Ready(Ok(())));

    let text = scrape.render();
    let calls = |labels: &[(&str, &str)]| {
        let mut all = vec![("pool", "db")];
        all.extend_from_slice(labels);
        value(&text, "pooled_calls_total", &all)
    };
    let stats = db.stats();
    // `completed`: the three calls, the two permits and the call that waited.
    assert_eq!(stats.completed - stats.panicked, 6);
    assert_eq!(calls(&[("outcome", "completed")]), Some(6.0), "{text}");
    assert_eq!(calls(&[("outcome", "panicked")]), Some(1.0));
    assert_eq!(
        calls(&[("outcome", "cancelled")]),
        Some(stats.cancelled as f64)
    );
    // A pool's own reasons; fleet rejections happen after admission and are
    // counted in `FleetStats`, not by the pool.
    let pool_reasons = Rejected::ALL
        .iter()
        .filter(|reason| !matches!(reason, Rejected::FleetUnavailable | Rejected::LeaseLost));
    for reason in pool_reasons {
        let labels = [("outcome", "rejected"), ("reason", reason.as_str())];
        assert_eq!(
            calls(&labels),
            Some(stats.rejected_for(*reason) as f64),
            "{reason}"
        );
    }
    assert_eq!(
        calls(&[("outcome", "rejected"), ("reason", "full")]),
        Some(1.0)
    );
    let db_label = [("pool", "db")];
    assert_eq!(value(&text, "pooled_limit", &db_label), Some(5.0));
    assert_eq!(value(&text, "pooled_running", &db_label), Some(0.0));
    assert_eq!(value(&text, "pooled_waiting", &db_label), Some(0.0));
    // Histograms (summaries) of the eight admitted calls (completed,
    // panicked, cancelled while running): the one that waited, waited 2 s.
    let summary = |name: &str, suffix: &str| value(&text, &format!("{name}{suffix}"), &db_label);
    assert_eq!(summary("pooled_wait_time_seconds", "_count"), Some(8.0));
    assert_eq!(summary("pooled_wait_time_seconds", "_sum"), Some(2.0));
    assert_eq!(summary("pooled_run_time_seconds", "_count"), Some(8.0));
    // The adaptive pool's floor and window latency, in seconds.
    let api_label = [("pool", "api")];
    let floor = value(&text, "pooled_adaptive_floor_seconds", &api_label).unwrap();
    let latency = value(&text, "pooled_adaptive_latency_seconds", &api_label).unwrap();
    assert!((floor - 0.02).abs() < 1e-6, "{floor}");
    assert!((latency - 0.02).abs() < 1e-6, "{latency}");
    assert_eq!(value(&text, "pooled_limit", &api_label), Some(3.0));
    // Only adaptive pools report adaptive latency.
    assert_eq!(
        value(&text, "pooled_adaptive_floor_seconds", &db_label),
        None
    );

    // Every path, quiet (untimed) and timed.
    pooled::observe::time_calls(false);
    every_path_balances(&scrape, "mix-untimed");
    pooled::observe::time_calls(true);
    every_path_balances(&scrape, "mix-timed");
}

/// Every way a call can go, many at once, on a pool with a recorder: the
/// gauges come back to zero and the counters match `Stats`, whether calls
/// are timed or not (a timed call takes the reporting's slow path).
fn every_path_balances(scrape: &metrics_exporter_prometheus::PrometheusHandle, name: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pool: &'static Pool = Box::leak(Box::new(
        Pool::builder()
            .name(name)
            .size(3)
            .max_waiting(64)
            .admission_timeout(Duration::from_millis(5))
            .build()
            .unwrap(),
    ));
    rt.block_on(async {
        // Ten waves of forty calls.
        for wave in 0..10u32 {
            let mut tasks = Vec::new();
            for i in wave * 40..(wave + 1) * 40 {
                tasks.push(tokio::spawn(async move {
                    match i % 8 {
                        // Completes, after holding its slot a while.
                        0 => drop(
                            pool.submit(tokio::time::sleep(Duration::from_millis(1)))
                                .await,
                        ),
                        // Cancelled while it waits or runs.
                        1 => drop(
                            tokio::time::timeout(
                                Duration::from_micros(300),
                                pool.submit(tokio::time::sleep(Duration::from_millis(2))),
                            )
                            .await,
                        ),
                        // Panics while it runs.
                        2 => drop(
                            tokio::spawn(
                                async move { pool.submit(async { panic!("boom") }).await },
                            )
                            .await,
                        ),
                        // A nested call, under its parent's slot.
                        3 => drop(
                            pool.submit(async move { pool.submit(async {}).await })
                                .await,
                        ),
                        // Blocking work.
                        4 => drop(pool.submit_blocking(std::thread::yield_now).await),
                        // A permit, held across an await.
                        5 => {
                            if let Ok(permit) = pool.acquire().await {
                                tokio::task::yield_now().await;
                                drop(permit);
                            }
                        }
                        // A permit that never waits.
                        6 => drop(pool.try_acquire()),
                        // A sync caller on the blocking pool.
                        _ => drop(tokio::task::spawn_blocking(move || pool.run(|| ())).await),
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        }
    });
    let text = scrape.render();
    let label = [("pool", name)];
    assert_eq!(value(&text, "pooled_running", &label), Some(0.0), "{text}");
    assert_eq!(value(&text, "pooled_waiting", &label), Some(0.0), "{text}");
    let stats = pool.stats();
    assert_eq!(stats.running + stats.waiting + stats.nested, 0);
    let calls = |labels: &[(&str, &str)]| {
        let mut all = vec![("pool", name)];
        all.extend_from_slice(labels);
        value(&text, "pooled_calls_total", &all).unwrap_or(0.0) as u64
    };
    assert_eq!(
        calls(&[("outcome", "completed")]),
        stats.completed - stats.panicked
    );
    assert_eq!(calls(&[("outcome", "panicked")]), stats.panicked);
    assert_eq!(calls(&[("outcome", "cancelled")]), stats.cancelled);
    let mut rejected = 0;
    for reason in Rejected::ALL {
        let n = calls(&[("outcome", "rejected"), ("reason", reason.as_str())]);
        assert_eq!(n, stats.rejected_for(*reason), "{reason}");
        rejected += n;
    }
    // Every path was taken.
    assert!(
        stats.panicked > 0 && stats.cancelled > 0 && rejected > 0,
        "{stats:?}"
    );
    assert!(stats.completed > stats.panicked + 100, "{stats:?}");
}
