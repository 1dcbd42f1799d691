//! Issue 11's real-app check: an adaptive `#[pooled]` group in front of a real
//! HTTP server with a knee, over loopback.
//!
//! * The server (axum) has 8 workers, serves a request in 15–25 ms (20 ms on
//!   average, jitter from a deterministic PRNG), lets at most 8 requests wait
//!   for a worker, and answers any request past that with a 503 at once
//!   (fail-fast overload). Capacity: 8 workers / 20 ms = 400 calls/s.
//! * The client (reqwest) sends every request through
//!   `#[pooled(kind = "autoscale", policy = "adaptive", max = 64, overload = ..)]`,
//!   which counts a 503 or a timed-out request as overload. 64 tasks call back to
//!   back for 5 s: 8 times the server's workers, so an unthrottled client would
//!   have most calls refused.
//! * Measured from outside the pool: 503s in the first 100 ms, the first second
//!   and in all; goodput over the last 3 s; the pool's limit every 100 ms; the
//!   server's own counts. It then checks issue 11's promises and exits non-zero
//!   if one fails (bounds in the `main` checks below).
//!
//! Run with `cargo run --release --example adaptive_server` (about 5 s).
//!
//! Measured on a 2-core machine (release, five runs; debug builds alike):
//! without the pool, 48 of 64 simultaneous requests get a 503; through it, 0
//! 503s of 12 calls in the first 100 ms, of ~335 in the first second and of
//! ~1920 in all; goodput over the last 3 s 379–380 ok/s, 100% of the 379/s
//! the server can do (its sleeps take 21.1 ms on average: 95% of the nominal
//! 400/s); the limit goes 3, 6, 12 in the first 300 ms and stays within 10–12
//! (median 10 over the last 3 s; 11–14 before the start's doubling needed a
//! call to wait), so the server holds ~10 requests and a served one waits
//! ~5.6 ms for a worker (latency ~1.3 times the unloaded one); peak in
//! service 8 of 8; wall time 5.2 s (the last figures from one debug run in
//! `.ci/run`, 2026-11-29). With `QUEUE_BOUND = 0` (a server that
//! refuses at once past its workers) the limit settles at 8 and goodput stays
//! at 99%, but probing past 8 costs a steady ~74 503s/s (17% of calls; 66 in
//! the first second), which fails the first-second check.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The server's workers: it never serves more requests than this at once.
const WORKERS: usize = 8;
/// Requests that may wait for a worker; one more is answered 503 at once.
const QUEUE_BOUND: usize = 8;
/// Mean service time; each request takes 75%–125% of it.
const SERVICE: Duration = Duration::from_millis(20);
/// Client tasks calling back to back.
const CLIENTS: usize = 64;
/// How long the clients keep calling.
const RUN: Duration = Duration::from_secs(5);
/// The steady state: the last part of the run.
const STEADY: Duration = Duration::from_secs(3);
/// A request with no answer by then counts as overload.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the pool's limit is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// What the server saw, counted by the server itself.
#[derive(Default)]
struct ServerCounts {
    in_service: AtomicUsize,
    peak_in_service: AtomicUsize,
    waiting: AtomicUsize,
    served: AtomicUsize,
    refused: AtomicUsize,
    /// Total time spent serving, in µs: the capacity the server really had.
    busy_micros: AtomicU64,
    /// Total time served requests waited for a worker, in µs.
    waited_micros: AtomicU64,
}

struct Server {
    workers: Semaphore,
    counts: ServerCounts,
    /// SplitMix64's state: a deterministic jitter without a `rand` dependency.
    rng: AtomicU64,
}

impl Server {
    /// A service time uniform in [75%, 125%] of `SERVICE`.
    fn service_time(&self) -> Duration {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        SERVICE.mul_f64(0.75 + 0.5 * unit)
    }
}

/// Counts one request in a gauge while it lives, also when hyper drops the
/// handler because the client went away.
struct Gauge<'a>(&'a AtomicUsize);

impl<'a> Gauge<'a> {
    fn enter(gauge: &'a AtomicUsize) -> (Self, usize) {
        let now = gauge.fetch_add(1, Ordering::SeqCst) + 1;
        (Gauge(gauge), now)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(server): State<Arc<Server>>) -> StatusCode {
    let counts = &server.counts;
    let arrived = Instant::now();
    let _worker = match server.workers.try_acquire() {
        Ok(worker) => worker,
        Err(_) => {
            let (_waiting, queued) = Gauge::enter(&counts.waiting);
            if queued > QUEUE_BOUND {
                counts.refused.fetch_add(1, Ordering::SeqCst);
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            server.workers.acquire().await.expect("never closed")
        }
    };
    let (_in_service, now) = Gauge::enter(&counts.in_service);
    counts.peak_in_service.fetch_max(now, Ordering::SeqCst);
    let started = Instant::now();
    counts
        .waited_micros
        .fetch_add((started - arrived).as_micros() as u64, Ordering::SeqCst);
    tokio::time::sleep(server.service_time()).await;
    counts
        .busy_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::SeqCst);
    counts.served.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK
}

/// Starts the server on its own thread and runtime, so that its timing does
/// not depend on how busy the client's runtime is.
fn start_server() -> std::io::Result<(String, Arc<Server>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}/work", listener.local_addr()?);
    let server = Arc::new(Server {
        workers: Semaphore::new(WORKERS),
        counts: ServerCounts::default(),
        rng: AtomicU64::new(11),
    });
    let app = Router::new()
        .route("/work", get(handle))
        .with_state(server.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            axum::serve(listener, app).await.expect("the server runs");
        })
    });
    Ok((url, server))
}

/// Why a call failed.
#[derive(Debug)]
enum CallError {
    /// The server answered 503: it is overrun.
    Overloaded,
    /// No answer within `REQUEST_TIMEOUT`.
    TimedOut,
    /// Anything else (connection refused, another status).
    Failed(String),
    /// The pool turned the call away.
    Rejected(pooled::Rejected),
}

impl From<pooled::Rejected> for CallError {
    fn from(rejected: pooled::Rejected) -> Self {
        CallError::Rejected(rejected)
    }
}

/// What the adaptive policy takes for "the server is overloaded".
fn is_overloaded(error: &CallError) -> bool {
    matches!(error, CallError::Overloaded | CallError::TimedOut)
}

/// One request, through the adaptive group (its handle is `CALL_POOL`).
#[pooled::pooled(kind = "autoscale", policy = "adaptive", max = 64, overload = is_overloaded)]
async fn call(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    let failed = |error: reqwest::Error| {
        if error.is_timeout() {
            CallError::TimedOut
        } else {
            CallError::Failed(error.to_string())
        }
    };
    let response = client.get(url).send().await.map_err(failed)?;
    let status = response.status();
    response.bytes().await.map_err(failed)?; // frees the connection for reuse
    match status {
        StatusCode::SERVICE_UNAVAILABLE => Err(CallError::Overloaded),
        status if status.is_success() => Ok(()),
        status => Err(CallError::Failed(status.to_string())),
    }
}

/// A call's outcome and when, since the start of the run, it completed.
type Outcome = (Duration, Result<(), CallError>);

/// Calls back to back until `RUN` has passed.
async fn client_task(client: reqwest::Client, url: String, start: Instant) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    while start.elapsed() < RUN {
        let result = call(&client, &url).await;
        outcomes.push((start.elapsed(), result));
    }
    outcomes
}

/// 64 simultaneous requests without the pool: what the pool protects from.
async fn unthrottled_burst(client: &reqwest::Client, url: &str) -> usize {
    let burst = (0..CLIENTS).map(|_| async {
        let response = client.get(url).send().await.ok()?;
        Some(response.status())
    });
    futures::future::join_all(burst)
        .await
        .into_iter()
        .filter(|status| *status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .count()
}

fn count(outcomes: &[Outcome], from: Duration, to: Duration) -> (usize, usize, usize) {
    let window = outcomes.iter().filter(|(at, _)| (from..to).contains(at));
    let (mut calls, mut ok, mut refused) = (0, 0, 0);
    for (_, result) in window {
        calls += 1;
        match result {
            Ok(()) => ok += 1,
            Err(CallError::Overloaded) => refused += 1,
            Err(_) => {}
        }
    }
    (calls, ok, refused)
}

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let wall = Instant::now();
    let (url, server) = start_server()?;
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()?;

    let burst_refused = unthrottled_burst(&client, &url).await;
    println!(
        "without the pool: {burst_refused} of {CLIENTS} simultaneous requests got 503 \
         ({:.0}%)",
        percent(burst_refused, CLIENTS)
    );
    let counts = &server.counts;
    let (served_before, refused_before) = (
        counts.served.load(Ordering::SeqCst),
        counts.refused.load(Ordering::SeqCst),
    );
    let busy_before = counts.busy_micros.load(Ordering::SeqCst);
    let waited_before = counts.waited_micros.load(Ordering::SeqCst);
    counts.peak_in_service.store(0, Ordering::SeqCst);

    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client_task(client.clone(), url.clone(), start)))
        .collect();
    // The pool's limit and what the server holds (in service + waiting), every 100 ms.
    let mut trace = Vec::new();
    let mut tick = tokio::time::interval_at(start.into(), SAMPLE_EVERY);
    while start.elapsed() < RUN {
        tick.tick().await;
        let held = counts.in_service.load(Ordering::SeqCst) + counts.waiting.load(Ordering::SeqCst);
        trace.push((start.elapsed(), CALL_POOL.size(), held));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await?);
    }

    let ms = Duration::from_millis;
    let (first_calls, _, first_refused) = count(&outcomes, ms(0), ms(100));
    let (second_calls, _, second_refused) = count(&outcomes, ms(0), ms(1000));
    let (all_calls, all_ok, all_refused) = count(&outcomes, ms(0), Duration::MAX);
    let (_, steady_ok, steady_refused) = count(&outcomes, RUN - STEADY, RUN);
    let timed_out = outcomes
        .iter()
        .filter(|(_, r)| matches!(r, Err(CallError::TimedOut)))
        .count();
    let other: Vec<_> = outcomes
        .iter()
        .filter_map(|(_, r)| match r {
            Err(CallError::Failed(why)) => Some(why.clone()),
            Err(CallError::Rejected(why)) => Some(format!("rejected by the pool: {why}")),
            _ => None,
        })
        .collect();

    let served = counts.served.load(Ordering::SeqCst) - served_before;
    let server_refused = counts.refused.load(Ordering::SeqCst) - refused_before;
    let busy = counts.busy_micros.load(Ordering::SeqCst) - busy_before;
    let mean_service = Duration::from_micros(busy / served.max(1) as u64);
    let waited = counts.waited_micros.load(Ordering::SeqCst) - waited_before;
    let mean_wait = Duration::from_micros(waited / served.max(1) as u64);
    let nominal = WORKERS as f64 / SERVICE.as_secs_f64();
    // What the server could really do: its workers over its measured service
    // time (tokio's timer rounds each sleep up to the next millisecond).
    let capacity = WORKERS as f64 / mean_service.as_secs_f64();
    let goodput = steady_ok as f64 / STEADY.as_secs_f64();

    let steady: Vec<_> = trace
        .iter()
        .filter(|(at, ..)| *at >= RUN - STEADY)
        .collect();
    let mut steady_limits: Vec<_> = steady.iter().map(|(_, limit, _)| *limit).collect();
    steady_limits.sort_unstable();
    let steady_held_peak = steady.iter().map(|(.., held)| *held).max().unwrap_or(0);
    let (limit_low, limit_high) = (steady_limits[0], steady_limits[steady_limits.len() - 1]);
    let limit_median = steady_limits[steady_limits.len() / 2];
    let peak_in_service = counts.peak_in_service.load(Ordering::SeqCst);

    println!("through the adaptive pool, {CLIENTS} clients for {RUN:?}:");
    println!(
        "  503s: {first_refused} of {first_calls} calls in the first 100 ms ({:.1}%), \
         {second_refused} of {second_calls} in the first second ({:.1}%), \
         {all_refused} of {all_calls} in all ({:.1}%; the server counted {server_refused}); \
         {timed_out} timed out",
        percent(first_refused, first_calls),
        percent(second_refused, second_calls),
        percent(all_refused, all_calls),
    );
    println!(
        "  goodput over the last {STEADY:?}: {goodput:.0} ok/s, {:.0}% of the server's \
         capacity of {capacity:.0}/s (8 workers / {mean_service:?} measured; nominal \
         {nominal:.0}/s: {:.0}%); {steady_refused} 503s then; {all_ok} ok in all",
        100.0 * goodput / capacity,
        100.0 * goodput / nominal,
    );
    let limits: Vec<_> = trace
        .iter()
        .map(|(_, limit, _)| limit.to_string())
        .collect();
    println!("  pool limit every 100 ms: {}", limits.join(" "));
    let held: Vec<_> = trace.iter().map(|(.., held)| held.to_string()).collect();
    println!("  server held (in service + waiting): {}", held.join(" "));
    println!(
        "  steady limit: {limit_low}..={limit_high} (median {limit_median}); the server held \
         up to {steady_held_peak} then; its peak in service: {peak_in_service} of {WORKERS} \
         workers; a served request waited {mean_wait:?} for a worker on average"
    );
    if !other.is_empty() {
        println!("  other failures: {} (first: {})", other.len(), other[0]);
    }

    // Issue 11's promises. An unthrottled client gets most of a simultaneous
    // burst refused (printed above); a pool that starts low and grows by round
    // trip should get next to none: at most 5% of the first 100 ms and of the
    // first second (5% leaves room for the one round trip in which the slow
    // start may overshoot, and none for a burst).
    let checks = [
        (
            "no burst of 503s in the first 100 ms (< 5% of its calls)",
            percent(first_refused, first_calls) < 5.0,
        ),
        (
            "no burst of 503s in the first second (< 5% of its calls)",
            percent(second_refused, second_calls) < 5.0,
        ),
        (
            "steady goodput >= 85% of the server's capacity",
            goodput >= 0.85 * capacity,
        ),
        (
            "steady limit within 2x the server's workers",
            limit_high <= 2 * WORKERS,
        ),
        (
            "the server never served more than its workers",
            peak_in_service <= WORKERS,
        ),
        ("no call failed otherwise", other.is_empty()),
    ];
    let mut failed = 0;
    for (promise, held) in checks {
        println!("{} {promise}", if held { "ok:  " } else { "FAIL:" });
        failed += usize::from(!held);
    }
    println!("wall time {:.1} s", wall.elapsed().as_secs_f64());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
