//! Pools reporting to Prometheus through the `metrics` facade (feature
//! `metrics`): `cargo run --example prometheus --features metrics`.
//!
//! The exporter's recorder is installed first (a pool registers its metric
//! handles when it is built; a group's pool, at the group's first use), call
//! timing is turned on for the histograms, and then a `#[pooled]` function
//! and a named pool take some calls, turn some away, and change their limit.
//! The example prints what a Prometheus scrape would read — here rendered
//! from the exporter's handle rather than served over HTTP — and exits
//! non-zero if a series it expects is missing.

use metrics_exporter_prometheus::PrometheusBuilder;
use pooled::{Pool, Rejected};
use std::time::Duration;

/// A call to some slow upstream, throttled by a global pool of 2 (its
/// metrics are labelled with the function's group name, its module path).
#[pooled::pooled(size = 2)]
async fn lookup(key: u32) -> Result<u32, Rejected> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(key * 2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `with_recommended_naming`: `_total` on counters and unit suffixes
    // (`pooled_wait_time_seconds`), as Prometheus' naming guide asks.
    let recorder = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .build_recorder();
    let scrape = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    pooled::observe::time_calls(true);

    // Eight lookups through the `#[pooled]` function's pool of 2.
    let lookups = (0..8).map(lookup);
    let results = futures::future::join_all(lookups).await;
    assert!(results.iter().all(Result::is_ok));

    // A named pool of 1 with room for one waiting call.
    let search = Pool::builder()
        .name("search")
        .size(1)
        .max_waiting(1)
        .build()?;
    let permit = search.acquire().await?;
    let waiting = tokio::spawn({
        let search = search.clone();
        async move { search.submit(async {}).await }
    });
    tokio::task::yield_now().await; // the spawned call is now waiting
    let full = search.submit(async {}).await;
    drop(permit);
    waiting.await??;
    search.pause();
    let paused = search.submit(async {}).await;
    search.resume();
    assert_eq!((full, paused), (Err(Rejected::Full), Err(Rejected::Paused)));
    search.scale(3); // 1 → 4

    let text = scrape.render();
    println!("{}", pooled_lines(&text));
    let expected = [
        r#"pooled_calls_total{pool="prometheus::lookup",outcome="completed"} 8"#,
        r#"pooled_calls_total{pool="search",outcome="completed"} 2"#,
        r#"pooled_calls_total{pool="search",outcome="rejected",reason="full"} 1"#,
        r#"pooled_calls_total{pool="search",outcome="rejected",reason="paused"} 1"#,
        r#"pooled_limit{pool="search"} 4"#,
        r#"pooled_running{pool="search"} 0"#,
        r#"pooled_waiting{pool="search"} 0"#,
        r#"pooled_wait_time_seconds_count{pool="prometheus::lookup"} 8"#,
        r#"pooled_run_time_seconds_count{pool="search"} 2"#,
    ];
    let missing: Vec<_> = expected
        .iter()
        .filter(|line| !text.lines().any(|l| l == **line))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing from the scrape: {missing:#?}").into());
    }
    println!("all {} expected series present", expected.len());
    Ok(())
}

/// The scrape's `pooled` series (and their `# TYPE`/`# HELP` lines).
fn pooled_lines(text: &str) -> String {
    text.lines()
        .filter(|line| line.contains("pooled_"))
        .collect::<Vec<_>>()
        .join("\n")
}
