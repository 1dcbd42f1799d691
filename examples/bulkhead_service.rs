//! A search service and its client, both throttled by `pooled`, with their
//! pools on a Prometheus `/metrics` page: one process, over loopback, no
//! external services, under a second.
//!
//! `cargo run --example bulkhead_service --features tower,metrics`
//!
//! * The server (axum) answers `/search` in ~20 ms behind a **bulkhead**,
//!   `PooledLayer::group(Backend::POOL)`: at most 8 searches in the handler
//!   at once, 16 more may queue, and a request past that is answered 503 at
//!   once (a `pooled::Rejected` turned into a status by `HandleErrorLayer`).
//!   The handler counts its own concurrency.
//! * The same server serves `/metrics`, outside the bulkhead: Prometheus text
//!   rendered from the `metrics` recorder every pool reports to.
//! * The client (reqwest) first sends a spike of 40 requests straight at the
//!   server, as 40 unthrottled callers would; then it sends 56 searches
//!   through its own **priority group** `Upstream` (4 in flight): 48 batch
//!   searches (weight 10), and, once they are all queued, 8 urgent ones
//!   (weight 0), which are admitted ahead of the queued batch.
//! * At the end the client scrapes `/metrics` over HTTP, prints the `pooled_*`
//!   series of both groups, and checks: the handler never held more than 8
//!   requests; the client never had more than 4 in flight (counted inside
//!   the client's calls, not by the pool); urgent searches waited less than
//!   batch ones on average; the scrape has `pooled_calls_total` and
//!   `pooled_limit` for both groups. It exits non-zero if one fails.
//!
//! Measured on a 2-core machine (debug build, ten runs): the spike gets 24
//! answers (8 in the handler + 16 queued) and 16 immediate 503s (26 and 14
//! in one run, the one whose wall time was 0.62 s: a slower spike leaves
//! room in the queue); the handler's peak is 8 of 8. Through `Upstream`, the 48 batch searches are 4
//! running and 44 queued when the urgent ones arrive; the urgent searches are
//! admitted 5th to 12th of 56 in every run, right after the 4 batch searches
//! already running, and wait 30.5–33.0 ms on average (max 41.4–44.0 ms)
//! against 161–165 ms (max 287–296 ms) for batch ones; the client's peak in
//! flight is 4 of 4. Wall time 0.38–0.39 s (0.62 s once). With two CPU hogs
//! on the 2 cores, five runs: the same counts and ranks, batch waits
//! 171–182 ms, wall time 0.41–0.50 s.

use axum::error_handling::HandleErrorLayer;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pooled::tower::{BoxError, PooledLayer};
use pooled::Rejected;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The server's bulkhead: 8 searches at once, 16 more may wait for a slot;
/// past that a request is turned away (`Rejected::Full`, a 503).
#[pooled::group(size = 8, max_waiting = 16)]
pub struct Backend;

/// The client's budget for the search service: 4 requests in flight, the
/// lowest weight first.
#[pooled::group(kind = "fixed", order = "priority", size = 4)]
pub struct Upstream;

/// How long a search works.
const WORK: Duration = Duration::from_millis(20);
/// Requests in the unthrottled spike.
const SPIKE: usize = 40;
/// Batch searches through `Upstream`, sent first.
const BATCH: usize = 48;
/// Urgent searches through `Upstream`, sent once the batch is queued.
const URGENT: usize = 8;
/// The whole run is over by then, or fails.
const DEADLINE: Duration = Duration::from_secs(9);

/// Requests inside a section of code, counted by that code; the most at once.
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    const fn new() -> Self {
        Gauge {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Counts one request until the guard is dropped (also when the request
    /// is cancelled).
    fn enter(&'static self) -> Inside {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Inside(self)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// One request inside a [`Gauge`]'s section.
struct Inside(&'static Gauge);

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Requests in the server's `/search` handler.
static IN_HANDLER: Gauge = Gauge::new();
/// The client's requests in flight through `Upstream`.
static IN_FLIGHT: Gauge = Gauge::new();
/// The client's searches admitted by `Upstream` so far: an admission's rank.
static ADMITTED: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------- server ---

/// `GET /search?q=..`: ~20 ms of work.
async fn search_handler(RawQuery(query): RawQuery) -> String {
    let _inside = IN_HANDLER.enter();
    tokio::time::sleep(WORK).await;
    format!("results for {}\n", query.unwrap_or_default())
}

/// `GET /metrics`: what Prometheus would scrape.
async fn metrics_handler(
    State(scrape): State<PrometheusHandle>,
) -> impl axum::response::IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        scrape.render(),
    )
}

/// The bulkhead's refusal as an HTTP answer: 503 when the pool turned the
/// request away, 500 for any other error.
async fn refusal(error: BoxError) -> (StatusCode, String) {
    match error.downcast_ref::<Rejected>() {
        Some(rejected) => (StatusCode::SERVICE_UNAVAILABLE, format!("{rejected}\n")),
        None => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}

/// The service: `/search` behind the bulkhead, `/metrics` beside it.
fn app(scrape: PrometheusHandle) -> Router {
    Router::new()
        .route("/search", get(search_handler))
        .layer((
            HandleErrorLayer::new(refusal),
            PooledLayer::group(Backend::POOL),
        ))
        .route("/metrics", get(metrics_handler)) // added after: not throttled
        .with_state(scrape)
}

// ---------------------------------------------------------------- client ---

/// How soon a search is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// A user is waiting.
    Urgent,
    /// Background work (reindexing, a report).
    Batch,
}

impl Class {
    /// The search's place in `Upstream`'s queue: smaller first.
    fn weight(self) -> i64 {
        match self {
            Class::Urgent => 0,
            Class::Batch => 10,
        }
    }
}

/// One search, admitted by the client's `Upstream` group by its class's
/// weight; returns when it was admitted and its rank among admissions.
#[pooled::pooled(group = Upstream, weight = class.weight())]
async fn search(
    client: &reqwest::Client,
    url: &str,
    class: Class,
) -> Result<(Instant, usize), BoxError> {
    let admitted = Instant::now();
    let rank = ADMITTED.fetch_add(1, Ordering::SeqCst);
    let _in_flight = IN_FLIGHT.enter();
    let response = client.get(url).send().await?.error_for_status()?;
    response.bytes().await?;
    Ok((admitted, rank))
}

/// A search through `Upstream`, as its caller sees it.
struct Sample {
    class: Class,
    /// From the call to its admission.
    waited: Duration,
    /// Its rank among admissions (0 first).
    rank: usize,
}

/// Starts a search of class `class` in its own task.
fn spawn_search(
    client: &reqwest::Client,
    base: &str,
    class: Class,
    n: usize,
) -> tokio::task::JoinHandle<Result<Sample, BoxError>> {
    let client = client.clone();
    let url = format!("{base}/search?q={class:?}-{n}");
    tokio::spawn(async move {
        let called = Instant::now();
        let (admitted, rank) = search(&client, &url, class).await?;
        Ok(Sample {
            class,
            waited: admitted - called,
            rank,
        })
    })
}

/// `SPIKE` requests at once, straight at the server: (200s, 503s, others).
async fn spike(client: &reqwest::Client, base: &str) -> Result<(usize, usize, usize), BoxError> {
    let requests: Vec<_> = (0..SPIKE)
        .map(|n| {
            let request = client.get(format!("{base}/search?q=spike-{n}"));
            tokio::spawn(async move {
                let response = request.send().await?;
                let status = response.status();
                response.bytes().await?;
                Ok::<_, reqwest::Error>(status)
            })
        })
        .collect();
    let (mut ok, mut shed, mut other) = (0, 0, 0);
    for request in requests {
        match request.await?? {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => shed += 1,
            _ => other += 1,
        }
    }
    Ok((ok, shed, other))
}

/// Mean and max of `class`'s waits.
fn waits(samples: &[Sample], class: Class) -> (Duration, Duration) {
    let waits: Vec<_> = samples
        .iter()
        .filter(|s| s.class == class)
        .map(|s| s.waited)
        .collect();
    let mean = waits.iter().sum::<Duration>() / waits.len().max(1) as u32;
    (mean, waits.into_iter().max().unwrap_or_default())
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

// ------------------------------------------------------------------ main ---

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<ExitCode, BoxError> {
    let wall = Instant::now();
    // Before any pool is built: a pool registers its metrics when it is
    // built, a group's pool at the group's first use.
    let recorder = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .build_recorder();
    let scrape = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    pooled::observe::time_calls(true);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app(scrape)).await });
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?;

    let run = async {
        // 1. The bulkhead under a spike.
        let (ok, shed, other) = spike(&client, &base).await?;
        println!(
            "spike of {SPIKE} requests straight at the server: {ok} answered, {shed} got 503 \
             at once, {other} other; the handler held at most {} (bulkhead: 8, 16 queued)",
            IN_HANDLER.peak()
        );

        // 2. The client's priority group: the batch first, all queued, then
        // the urgent searches.
        let batch: Vec<_> = (0..BATCH)
            .map(|n| spawn_search(&client, &base, Class::Batch, n))
            .collect();
        while Upstream::POOL.stats().submitted() < BATCH as u64 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let queued = Upstream::POOL.stats();
        let urgent: Vec<_> = (0..URGENT)
            .map(|n| spawn_search(&client, &base, Class::Urgent, n))
            .collect();
        let mut samples = Vec::new();
        for call in batch.into_iter().chain(urgent) {
            samples.push(call.await??);
        }
        let mut urgent_ranks: Vec<_> = samples
            .iter()
            .filter(|s| s.class == Class::Urgent)
            .map(|s| s.rank + 1)
            .collect();
        urgent_ranks.sort_unstable();
        let (urgent_mean, urgent_max) = waits(&samples, Class::Urgent);
        let (batch_mean, batch_max) = waits(&samples, Class::Batch);
        println!(
            "through Upstream (4 in flight): {BATCH} batch searches ({} running, {} queued), \
             then {URGENT} urgent ones",
            queued.running, queued.waiting
        );
        println!(
            "  urgent admitted at ranks {}..={} of {}; waited {} on average (max {})",
            urgent_ranks[0],
            urgent_ranks[urgent_ranks.len() - 1],
            BATCH + URGENT,
            ms(urgent_mean),
            ms(urgent_max)
        );
        println!(
            "  batch waited {} on average (max {}); the client's peak in flight: {}",
            ms(batch_mean),
            ms(batch_max),
            IN_FLIGHT.peak()
        );

        // 3. The scrape, over HTTP like Prometheus'.
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok::<_, BoxError>((other, urgent_mean, batch_mean, text))
    };
    let (other, urgent_mean, batch_mean, text) = tokio::time::timeout(DEADLINE, run)
        .await
        .map_err(|_| format!("not done within {DEADLINE:?}"))??;

    println!("GET /metrics, the pooled_* series (histogram quantiles left out):");
    for line in pooled_series(&text) {
        println!("  {line}");
    }

    let has = |series: &str, group: &str| {
        let prefix = format!("{series}{{pool=\"bulkhead_service::{group}\"");
        text.lines().any(|line| line.starts_with(&prefix))
    };
    let checks = [
        (
            "the handler never held more than 8 requests",
            IN_HANDLER.peak() <= 8,
        ),
        (
            "the client never had more than 4 requests in flight",
            IN_FLIGHT.peak() <= 4,
        ),
        (
            "urgent searches waited less than batch ones on average",
            urgent_mean < batch_mean,
        ),
        ("every spike request got a 200 or a 503", other == 0),
        (
            "the scrape has pooled_calls_total for both groups",
            has("pooled_calls_total", "Backend") && has("pooled_calls_total", "Upstream"),
        ),
        (
            "the scrape has pooled_limit for both groups",
            has("pooled_limit", "Backend") && has("pooled_limit", "Upstream"),
        ),
    ];
    let mut failed = 0;
    for (promise, held) in checks {
        println!("{} {promise}", if held { "ok:  " } else { "FAIL:" });
        failed += usize::from(!held);
    }
    println!("wall time {:.2} s", wall.elapsed().as_secs_f64());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The scrape's `pooled_*` series, each metric under its `# HELP` and
/// `# TYPE` lines, metrics and series sorted (the exporter's order varies
/// from run to run); the histograms' quantile lines are left out, their
/// `_sum` and `_count` kept.
fn pooled_series(text: &str) -> Vec<&str> {
    fn comment(line: &&str) -> bool {
        line.starts_with('#')
    }
    let mut metrics: Vec<Vec<&str>> = Vec::new();
    let lines = text
        .lines()
        .filter(|line| line.contains("pooled_") && !line.contains("quantile="));
    for line in lines {
        match metrics.last_mut() {
            // A comment starts the next metric, unless it follows one.
            Some(metric) if !comment(&line) || metric.last().is_some_and(comment) => {
                metric.push(line);
            }
            _ => metrics.push(vec![line]),
        }
    }
    for metric in &mut metrics {
        let header = metric.iter().take_while(|line| comment(line)).count();
        metric[header..].sort_unstable();
    }
    metrics.sort_unstable();
    metrics.concat()
}
