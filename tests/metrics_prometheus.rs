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

    // An adaptive pool: one window of ten 20 ms calls.
    let api = Pool::builder()
        .name("api")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    for _ in 0..10 {
        assert_eq!(api.run(|| clock.advance(Duration::from_millis(20))), Ok(()));
    }
    assert_eq!(api.size(), 2);

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
    assert_eq!(value(&text, "pooled_limit", &api_label), Some(2.0));
    // Only adaptive pools report adaptive latency.
    assert_eq!(
        value(&text, "pooled_adaptive_floor_seconds", &db_label),
        None
    );
}
