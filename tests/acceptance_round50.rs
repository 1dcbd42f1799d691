//! Acceptance round 50: the latency-adaptive limit over REAL HTTP on loopback.
//!
//! axum 0.8 servers (HTTP/1) that count their own concurrency with an atomic
//! meter, reqwest 0.13 clients, and calls going through
//! `#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = ..)]`
//! functions, `#[pooled::group(..)]` groups and `Pool::builder()` adaptive
//! pools with `submit_judged`. Server models: a knee (latency grows past C in
//! flight), fail-fast 503 above C, slow 503 above C, a capacity that drops
//! mid-test and recovers, a server that answers 500 (not an overload for the
//! predicate) above C, and a healthy server behind clients with a short
//! admission timeout (admission timeouts are not drops).
//!
//! Promises checked (README "How it works" → Adaptive autoscale, "The
//! attribute", `pool_runtime::scale::adaptive` module docs): the start at
//! `size` (else `min`), overload acted on from the first calls, a burst of
//! refusals is one cut (at most to `limit × backoff`), only the predicate's
//! errors are drops, admission timeouts never are, no burst of 503s at the
//! start and a steady state near the server's capacity. Every test asserts
//! the hard promise exactly: the server never sees more than the pool's
//! `max`, and the pool's stats account for every call.
//!
//! Tests run one at a time (a shared async lock) so that their timing is
//! not each other's noise; each bounds every wait with `tokio::time::timeout`.
//!
//! Broken promise found (failed first; `grow` now adds a tenth of a slot
//! within a step below the level too, which halved the failed calls of the
//! simulator's fail-fast models; the test still fails, from 8–11 episodes
//! in 1.5 s to 9–10 (three runs): the cut lands a fraction of a slot under the point
//! where the limit rounds up, so the crawl reaches the next slot in a few
//! windows — kept ignored as a known limit in the README):
//!
//! * `steady_state_drops_do_not_recur_every_window`. Docs: README "after
//!   which it grows slowly near the level that drew them", and the module
//!   docs of `pool_runtime::scale::adaptive` ("Growth within a step of the
//!   limit that last drew drops ... is a tenth of a slot per window").
//!   What happens: in front of a fail-fast server of 8 × 25 ms with 48
//!   clients, the limit settles at 8 and then, every window (every
//!   100–220 ms), goes back to 9 and is cut to 8 again 1–3 ms later by a
//!   fresh burst of 503s: 8–11 episodes of 503s in 1.5 s (21–30 refused of
//!   ~450 calls) where a tenth of a slot per window allows about two. The
//!   cause in the code: `grow` returns `limit.max(level − 0.1) + 0.1`, the
//!   level itself, whenever the limit is within a step below it, so the
//!   first window after a cut jumps back to the level that drew the drops.
//!   Reproduce: `cargo test --test acceptance_round50
//!   steady_state_drops_do_not_recur_every_window -- --ignored --nocapture`.
//!
//! Run: `cargo test --test acceptance_round50`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use pooled::{AdaptiveSettings, Kind, Pool, Rejected, ScalePolicy, Stats, Verdict};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tests run one after another: timing assertions on 2 shared cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BOUND: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- servers

#[derive(Clone, Copy, Debug)]
enum Model {
    /// Always 200 after `base`.
    Healthy,
    /// 200 after `base × max(1, n / capacity)`: latency rises past the knee.
    Knee,
    /// 503 at once above `capacity` in flight.
    FailFast,
    /// 503 after `base` above `capacity` in flight.
    SlowReject,
    /// 500 at once above `capacity` in flight (not an overload to the predicate).
    Err500,
}

struct Server {
    model: Model,
    base: Duration,
    capacity: AtomicUsize,
    now: AtomicUsize,
    peak: AtomicUsize,
    /// The most in flight before the first answer: calls admitted before
    /// any call ended (so before anything could move a limit).
    early_peak: AtomicUsize,
    served: AtomicUsize,
    refused: AtomicUsize,
}

impl Server {
    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }
    fn now(&self) -> usize {
        self.now.load(SeqCst)
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

async fn handle(State(server): State<Arc<Server>>) -> StatusCode {
    let n = server.now.fetch_add(1, SeqCst) + 1;
    let _in_flight = InFlight(&server.now);
    server.peak.fetch_max(n, SeqCst);
    if server.served.load(SeqCst) + server.refused.load(SeqCst) == 0 {
        server.early_peak.fetch_max(n, SeqCst);
    }
    let capacity = server.capacity.load(SeqCst);
    let over = n > capacity;
    let status = match server.model {
        Model::Healthy => {
            tokio::time::sleep(server.base).await;
            StatusCode::OK
        }
        Model::Knee => {
            let stretch = (n as f64 / capacity.max(1) as f64).max(1.0);
            tokio::time::sleep(server.base.mul_f64(stretch)).await;
            StatusCode::OK
        }
        Model::FailFast => {
            if over {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                tokio::time::sleep(server.base).await;
                StatusCode::OK
            }
        }
        Model::SlowReject => {
            tokio::time::sleep(server.base).await;
            if over {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        }
        Model::Err500 => {
            if over {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                tokio::time::sleep(server.base).await;
                StatusCode::OK
            }
        }
    };
    if status == StatusCode::OK {
        server.served.fetch_add(1, SeqCst);
    } else {
        server.refused.fetch_add(1, SeqCst);
    }
    status
}

/// Starts a server on loopback in the current runtime; returns its base URL
/// (routes `/a` and `/b` share the one meter).
async fn serve(model: Model, capacity: usize, base: Duration) -> (String, Arc<Server>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let server = Arc::new(Server {
        model,
        base,
        capacity: AtomicUsize::new(capacity),
        now: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        early_peak: AtomicUsize::new(0),
        served: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/a", get(handle))
        .route("/b", get(handle))
        .with_state(server.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("the server runs");
    });
    (url, server)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a client")
}

// ---------------------------------------------------------------- calls

/// A call's failure (the payloads are read through `Debug` in messages).
#[derive(Debug)]
#[allow(dead_code)]
enum CallError {
    Overloaded,
    Status(u16),
    Http(String),
    Rejected(Rejected),
}

impl From<Rejected> for CallError {
    fn from(rejected: Rejected) -> Self {
        CallError::Rejected(rejected)
    }
}

fn is_overloaded(error: &CallError) -> bool {
    matches!(error, CallError::Overloaded)
}

/// One GET: 200 is `Ok`, 503 is `Overloaded`.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| CallError::Http(e.to_string()))?;
    let status = response.status().as_u16();
    response
        .bytes()
        .await
        .map_err(|e| CallError::Http(e.to_string()))?;
    match status {
        200 => Ok(()),
        503 => Err(CallError::Overloaded),
        other => Err(CallError::Status(other)),
    }
}

/// The judge of the builder pools: what `overload = is_overloaded` does.
fn judge(out: &Result<(), CallError>) -> Verdict {
    match out {
        Ok(()) => Verdict::Success,
        Err(e) if is_overloaded(e) => Verdict::Overload,
        Err(_) => Verdict::Ignore,
    }
}

/// A builder pool's call: the pool's rejection folded into the call's error.
async fn judged(pool: &Pool, client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    match pool.submit_judged(0, fetch(client, url), judge).await {
        Ok(out) => out,
        Err(rejected) => Err(CallError::Rejected(rejected)),
    }
}

// ---------------------------------------------------------------- driving

type Trace = Vec<(Duration, Result<(), CallError>)>;

/// `clients` loops calling `call` until `run` has passed since `start`.
async fn drive<F, Fut>(clients: usize, start: Instant, run: Duration, call: F) -> Trace
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CallError>> + Send + 'static,
{
    let call = Arc::new(call);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while start.elapsed() < run {
                    let out = call().await;
                    outcomes.push((start.elapsed(), out));
                }
                outcomes
            })
        })
        .collect();
    let mut trace = Vec::new();
    for task in tasks {
        let outcomes = tokio::time::timeout(run + BOUND, task)
            .await
            .expect("a client hung")
            .expect("a client panicked");
        trace.extend(outcomes);
    }
    trace
}

/// Samples `read` every 20 ms until stopped: (elapsed, value).
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(Duration, usize)>>,
}

fn sample(start: Instant, read: impl Fn() -> usize + Send + 'static) -> Sampler {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let mut out = Vec::new();
        while !flag.load(SeqCst) {
            out.push((start.elapsed(), read()));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        out
    });
    Sampler { stop, task }
}

impl Sampler {
    async fn finish(self) -> Vec<(Duration, usize)> {
        self.stop.store(true, SeqCst);
        tokio::time::timeout(BOUND, self.task)
            .await
            .expect("sampler hung")
            .expect("sampler panicked")
    }
}

fn values_between(samples: &[(Duration, usize)], from: Duration, to: Duration) -> Vec<usize> {
    let mut v: Vec<_> = samples
        .iter()
        .filter(|(at, _)| (from..to).contains(at))
        .map(|(_, x)| *x)
        .collect();
    v.sort_unstable();
    v
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    calls: usize,
    ok: usize,
    overloaded: usize,
    status: usize,
    http: usize,
    timed_out: usize,
    full: usize,
    other_rejected: usize,
}

impl Tally {
    fn rejected(&self) -> usize {
        self.timed_out + self.full + self.other_rejected
    }
}

fn tally(trace: &Trace, from: Duration, to: Duration) -> Tally {
    let mut t = Tally::default();
    for (at, out) in trace {
        if !(from..to).contains(at) {
            continue;
        }
        t.calls += 1;
        match out {
            Ok(()) => t.ok += 1,
            Err(CallError::Overloaded) => t.overloaded += 1,
            Err(CallError::Status(_)) => t.status += 1,
            Err(CallError::Http(_)) => t.http += 1,
            Err(CallError::Rejected(Rejected::TimedOut)) => t.timed_out += 1,
            Err(CallError::Rejected(Rejected::Full)) => t.full += 1,
            Err(CallError::Rejected(_)) => t.other_rejected += 1,
        }
    }
    t
}

fn all(trace: &Trace) -> Tally {
    tally(trace, Duration::ZERO, Duration::MAX)
}

/// The hard accounting promise, once every call has returned: each call is
/// counted once, as completed or rejected, nothing left running or waiting.
fn assert_accounts(stats: &Stats, t: &Tally, cancelled: u64) {
    assert_eq!(stats.running, 0, "{stats:?}");
    assert_eq!(stats.waiting, 0, "{stats:?}");
    assert_eq!(stats.nested, 0, "{stats:?}");
    assert_eq!(
        stats.submitted(),
        stats.completed + stats.rejected_total() + stats.cancelled + stats.in_flight(),
        "identity: {stats:?}"
    );
    assert_eq!(
        stats.submitted(),
        t.calls as u64 + cancelled,
        "every call counted: {stats:?} {t:?}"
    );
    assert_eq!(
        stats.completed,
        (t.calls - t.rejected()) as u64,
        "{stats:?} {t:?}"
    );
    assert_eq!(
        stats.rejected_total(),
        t.rejected() as u64,
        "{stats:?} {t:?}"
    );
    assert_eq!(
        stats.rejected_for(Rejected::TimedOut),
        t.timed_out as u64,
        "{stats:?} {t:?}"
    );
    assert_eq!(stats.cancelled, cancelled, "{stats:?}");
    assert_eq!(stats.panicked, 0, "{stats:?}");
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn adaptive_builder() -> pooled::PoolBuilder {
    Pool::builder()
        .kind(Kind::Autoscale)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
}

// ---------------------------------------------------------------- start

#[pooled::pooled(kind = "autoscale", policy = "adaptive", size = 5, min = 2, max = 40,
                 overload = is_overloaded)]
async fn start_sized(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// "It starts at `size`": 30 callers at once against a 150 ms server; before
/// any call completed (nothing can have moved the limit) the server saw
/// exactly 5 in flight, never more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_size_first_round_trip_holds_size() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::Healthy, 1000, ms(150)).await;
    let url = format!("{url}/a");
    assert_eq!(START_SIZED_POOL.size(), 5);
    let client = client();
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let (c, u) = (client.clone(), url.clone());
            tokio::spawn(async move { start_sized(&c, &u).await })
        })
        .collect();
    for call in calls {
        let out = tokio::time::timeout(BOUND, call)
            .await
            .expect("hang")
            .unwrap();
        assert!(out.is_ok(), "{out:?}");
    }
    // Read by the server before its first answer, not 90 ms in: a loaded
    // machine can take longer than a 150 ms call to get back from a 90 ms
    // sleep, and then the read was not before a round trip.
    let early_peak = server.early_peak.load(SeqCst);
    assert!(
        early_peak >= 1,
        "the server saw no call before its first answer"
    );
    assert!(
        early_peak <= 5,
        "server saw {early_peak} before a round trip"
    );
    assert!(server.peak() <= 40, "max 40, server saw {}", server.peak());
    let stats = START_SIZED_POOL.stats();
    let trace: Trace = (0..30).map(|_| (Duration::ZERO, Ok(()))).collect();
    assert_accounts(&stats, &all(&trace), 0);
}

#[pooled::group(kind = "autoscale", policy = "adaptive", min = 3, max = 40)]
struct StartAtMin50;

#[pooled::pooled(group = StartAtMin50, overload = is_overloaded)]
async fn start_min(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// "It starts at `size` (default `min`)": a group without `size` starts at
/// `min` = 3 and the server sees at most 3 before any round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_without_size_starts_at_min() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::Healthy, 1000, ms(150)).await;
    let url = format!("{url}/a");
    assert_eq!(StartAtMin50::POOL.size(), 3);
    let client = client();
    let calls: Vec<_> = (0..24)
        .map(|_| {
            let (c, u) = (client.clone(), url.clone());
            tokio::spawn(async move { start_min(&c, &u).await })
        })
        .collect();
    for call in calls {
        let out = tokio::time::timeout(BOUND, call)
            .await
            .expect("hang")
            .unwrap();
        assert!(out.is_ok(), "{out:?}");
    }
    // Read by the server before its first answer, not 90 ms in: a loaded
    // machine can take longer than a 150 ms call to get back from a 90 ms
    // sleep, and then the read was not before a round trip.
    let early_peak = server.early_peak.load(SeqCst);
    assert!(
        early_peak >= 1,
        "the server saw no call before its first answer"
    );
    assert!(
        early_peak <= 3,
        "server saw {early_peak} before a round trip"
    );
    assert!(server.peak() <= 40);
    let trace: Trace = (0..24).map(|_| (Duration::ZERO, Ok(()))).collect();
    assert_accounts(&StartAtMin50::POOL.stats(), &all(&trace), 0);
}

// ---------------------------------------------------------------- drops

/// Calls of `first_overload` admitted so far.
static FIRST_ADMITTED: AtomicUsize = AtomicUsize::new(0);
/// A `first_overload` call sends its request only once this many calls
/// were admitted.
static FIRST_GATE: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(kind = "autoscale", policy = "adaptive", size = 8, min = 1, max = 16,
                 overload = is_overloaded)]
async fn first_overload(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    FIRST_ADMITTED.fetch_add(1, SeqCst);
    while FIRST_ADMITTED.load(SeqCst) < FIRST_GATE.load(SeqCst) {
        tokio::time::sleep(ms(1)).await;
    }
    fetch(client, url).await
}

/// "Acts on overload from the first call" and "a burst of refusals ... is
/// one cut": a fresh pool at 8 whose first 8 calls are all refused at once
/// is cut (below 8), but once only (to no less than 8 × backoff = 4). A
/// second wave, admitted after the cut, cuts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_calls_refused_cut_once_at_once() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::FailFast, 0, ms(50)).await;
    let url = format!("{url}/a");
    let client = client();
    let wave = |n: usize| {
        let calls: Vec<_> = (0..n)
            .map(|_| {
                let (c, u) = (client.clone(), url.clone());
                tokio::spawn(async move { first_overload(&c, &u).await })
            })
            .collect();
        async move {
            let mut trace = Trace::new();
            for call in calls {
                let out = tokio::time::timeout(BOUND, call)
                    .await
                    .expect("hang")
                    .unwrap();
                trace.push((Duration::ZERO, out));
            }
            trace
        }
    };
    assert_eq!(FIRST_OVERLOAD_POOL.size(), 8);
    // The first wave's calls are all admitted before any request goes
    // out, so their refusals arrive together. (Spawned and sent one by one
    // instead, on a loaded machine the first three refusals cut the limit
    // before the last calls were admitted: those then counted against the
    // new limit and cut it again, to 2.)
    FIRST_GATE.store(8, SeqCst);
    let mut trace = wave(8).await;
    FIRST_GATE.store(0, SeqCst);
    let after_first = FIRST_OVERLOAD_POOL.size();
    assert_eq!(all(&trace).overloaded, 8, "{trace:?}");
    assert!(
        after_first < 8,
        "8 of 8 first calls refused, limit still {after_first}"
    );
    assert!(
        after_first >= 4,
        "one burst cut to {after_first}: below 8 × backoff 0.5 (a cascade)"
    );
    trace.extend(wave(8).await);
    let after_second = FIRST_OVERLOAD_POOL.size();
    assert!(
        after_second < after_first || after_second == 1,
        "a second wave after the cut: {after_first} → {after_second}"
    );
    assert!(server.peak() <= 16);
    assert_accounts(&FIRST_OVERLOAD_POOL.stats(), &all(&trace), 0);
}

/// A builder pool at 20 against a server of 10 that refuses the rest at
/// once: 20 calls together, 10 refusals arrive together, one cut to no less
/// than 20 × 0.5 = 10, and the cut comes before the 10 slow successes end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_refusal_burst_is_one_cut() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::FailFast, 10, ms(400)).await;
    let url = format!("{url}/a");
    let pool = Arc::new(adaptive_builder().size(20).min(2).max(40).build().unwrap());
    let client = client();
    let admitted = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (p, c, u) = (pool.clone(), client.clone(), url.clone());
            let admitted = admitted.clone();
            // Every call admitted before any request goes out, so the 10
            // refusals arrive together. (Spawned and sent one by one
            // instead, on a loaded machine the first refusals cut the limit
            // before the last calls were admitted: those then counted
            // against the new limit and cut it again.)
            let call = async move {
                admitted.fetch_add(1, SeqCst);
                while admitted.load(SeqCst) < 20 {
                    tokio::time::sleep(ms(1)).await;
                }
                fetch(&c, &u).await
            };
            tokio::spawn(async move {
                match p.submit_judged(0, call, judge).await {
                    Ok(out) => out,
                    Err(rejected) => Err(CallError::Rejected(rejected)),
                }
            })
        })
        .collect();
    // Wait (bounded) until the 10 refusals are in, well before 400 ms.
    let waited = tokio::time::timeout(ms(350), async {
        while server.refused.load(SeqCst) < 10 {
            tokio::time::sleep(ms(5)).await;
        }
    })
    .await;
    tokio::time::sleep(ms(30)).await;
    let mid = pool.size();
    let served_mid = server.served.load(SeqCst);
    let mut trace = Trace::new();
    for call in calls {
        let out = tokio::time::timeout(BOUND, call)
            .await
            .expect("hang")
            .unwrap();
        trace.push((Duration::ZERO, out));
    }
    let t = all(&trace);
    assert_eq!((t.ok, t.overloaded), (10, 10), "{t:?}");
    if waited.is_ok() && served_mid == 0 {
        assert!(mid < 20, "10 of 20 refused, limit still {mid}");
        assert!(
            mid >= 10,
            "one burst cut to {mid}: past 20 × backoff (cascade)"
        );
    }
    let end = pool.size();
    assert!(end >= 10, "a burst is one cut; limit ended at {end}");
    assert!(server.peak() <= 40);
    assert_accounts(&pool.stats(), &t, 0);
}

// ---------------------------------------------------------------- steady state

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 2, max = 64,
                 overload = is_overloaded)]
async fn fail_fast(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// "No burst of 503s at start, steady state at the server's capacity": 48
/// clients against a server of 8 × 25 ms that 503s at once above 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_server_no_start_burst_steady_near_capacity() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::FailFast, 8, ms(25)).await;
    let url = format!("{url}/a");
    let client = client();
    let start = Instant::now();
    let limits = sample(start, || FAIL_FAST_POOL.size());
    let srv = server.clone();
    let peak_late = tokio::spawn(async move {
        tokio::time::sleep_until((start + ms(2000)).into()).await;
        let before = srv.peak.swap(0, SeqCst);
        let refused = srv.refused.load(SeqCst);
        (before, refused)
    });
    let run = ms(3000);
    let trace = drive(48, start, run, move || {
        let (c, u) = (client.clone(), url.clone());
        async move { fail_fast(&c, &u).await }
    })
    .await;
    let limits = limits.finish().await;
    let (peak_early, _) = tokio::time::timeout(BOUND, peak_late)
        .await
        .unwrap()
        .unwrap();
    eprintln!(
        "fail_fast server peak before 2 s {peak_early}, after: {}",
        server.peak()
    );
    let first = tally(&trace, ms(0), ms(200));
    let steady = tally(&trace, ms(2000), run);
    let t = all(&trace);
    let lims = values_between(&limits, ms(2000), run);
    eprintln!("fail_fast first {first:?} steady {steady:?} all {t:?} limits {lims:?}");
    assert!(server.peak() <= 64, "server saw {}", server.peak());
    assert!(
        first.overloaded <= 24,
        "503s in the first 200 ms: {first:?}"
    );
    assert!(
        steady.overloaded * 100 <= steady.calls * 20,
        "503 share in the last second over 20%: {steady:?}"
    );
    // Capacity 8 / 25 ms = 320/s; half of it over the last second.
    assert!(steady.ok >= 160, "goodput in the last second: {steady:?}");
    assert_eq!(t.status + t.http, 0, "{t:?}");
    assert_accounts(&FAIL_FAST_POOL.stats(), &t, 0);
}

#[pooled::group(kind = "autoscale", policy = "adaptive", min = 2, max = 48)]
struct SlowReject50;

#[pooled::pooled(group = SlowReject50, overload = is_overloaded)]
async fn slow_reject(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// A server that answers 503 only after its full latency above 8 in flight:
/// the refusals are as slow as the successes, and the limit still settles
/// so that few calls are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_503_server_settles_without_refusals() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::SlowReject, 8, ms(30)).await;
    let url = format!("{url}/a");
    let client = client();
    let start = Instant::now();
    let limits = sample(start, || SlowReject50::POOL.size());
    let run = ms(3000);
    let trace = drive(40, start, run, move || {
        let (c, u) = (client.clone(), url.clone());
        async move { slow_reject(&c, &u).await }
    })
    .await;
    let limits = limits.finish().await;
    let steady = tally(&trace, ms(2000), run);
    let t = all(&trace);
    let lims = values_between(&limits, ms(2000), run);
    eprintln!("slow_reject steady {steady:?} all {t:?} limits {lims:?}");
    assert!(server.peak() <= 48, "server saw {}", server.peak());
    assert!(
        steady.overloaded * 100 <= steady.calls * 30,
        "503 share in the last second over 30%: {steady:?}"
    );
    // 8 / 30 ms = 266/s; 40% of it.
    assert!(steady.ok >= 106, "goodput in the last second: {steady:?}");
    assert!(lims[lims.len() / 2] <= 24, "median limit {lims:?}");
    assert_accounts(&SlowReject50::POOL.stats(), &t, 0);
}

/// A knee: latency grows in proportion past 8 in flight (no errors at all).
/// A builder pool with `submit_judged` keeps the server's concurrency near
/// the knee, far below `max` = 64, without losing the throughput.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knee_server_limit_stays_near_knee() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::Knee, 8, ms(20)).await;
    let url = format!("{url}/a");
    let pool = Arc::new(adaptive_builder().min(2).max(64).build().unwrap());
    let client = client();
    let start = Instant::now();
    let watched = pool.clone();
    let limits = sample(start, move || watched.size());
    let srv = server.clone();
    let inflight = sample(start, move || srv.now());
    let run = ms(3000);
    let p = pool.clone();
    let trace = drive(48, start, run, move || {
        let (p, c, u) = (p.clone(), client.clone(), url.clone());
        async move { judged(&p, &c, &u).await }
    })
    .await;
    let limits = limits.finish().await;
    let inflight = inflight.finish().await;
    let steady = tally(&trace, ms(2000), run);
    let t = all(&trace);
    let lims = values_between(&limits, ms(2000), run);
    let flights = values_between(&inflight, ms(2000), run);
    eprintln!("knee steady {steady:?} limits {lims:?} in flight {flights:?}");
    assert!(server.peak() <= 64, "server saw {}", server.peak());
    assert!(
        lims[lims.len() / 2] <= 24,
        "median limit past 3× knee: {lims:?}"
    );
    assert!(
        flights[flights.len() / 2] <= 24,
        "median server concurrency past 3× knee: {flights:?}"
    );
    // 8 / 20 ms = 400/s at the knee; 40% of it.
    assert!(steady.ok >= 160, "goodput in the last second: {steady:?}");
    assert_eq!(t.calls, t.ok, "{t:?}");
    assert_accounts(&pool.stats(), &t, 0);
}

// ---------------------------------------------------------------- capacity change

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 2, max = 64,
                 overload = is_overloaded)]
async fn shifting(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// Capacity 16 → 4 at 1.0 s → 16 at 1.8 s (fail-fast 503s, 25 ms): the
/// limit follows it down (few 503s late in the low phase) and grows back
/// after the recovery (above the low capacity, more goodput in the last
/// 0.6 s than in the low phase; growth near the level that drew drops is
/// slow by design, so the bar is modest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_drops_mid_test_and_recovers() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::FailFast, 16, ms(25)).await;
    let url = format!("{url}/a");
    let client = client();
    let start = Instant::now();
    let limits = sample(start, || SHIFTING_POOL.size());
    let srv = server.clone();
    let shifter = tokio::spawn(async move {
        tokio::time::sleep_until((start + ms(1000)).into()).await;
        srv.capacity.store(4, SeqCst);
        tokio::time::sleep_until((start + ms(1800)).into()).await;
        srv.capacity.store(16, SeqCst);
    });
    let run = ms(4000);
    let trace = drive(40, start, run, move || {
        let (c, u) = (client.clone(), url.clone());
        async move { shifting(&c, &u).await }
    })
    .await;
    tokio::time::timeout(BOUND, shifter).await.unwrap().unwrap();
    let limits = limits.finish().await;
    let low = tally(&trace, ms(1400), ms(1800));
    let high = tally(&trace, ms(3400), run);
    let t = all(&trace);
    let low_lims = values_between(&limits, ms(1400), ms(1800));
    let end_lims = values_between(&limits, ms(3400), run);
    eprintln!("shift low {low:?} {low_lims:?} high {high:?} {end_lims:?}");
    assert!(server.peak() <= 64, "server saw {}", server.peak());
    assert!(
        low.overloaded * 100 <= low.calls * 35,
        "503 share late in the low phase: {low:?}"
    );
    assert!(
        low_lims[low_lims.len() / 2] <= 12,
        "the limit did not follow capacity 4: {low_lims:?}"
    );
    assert!(
        end_lims[end_lims.len() / 2] >= 5,
        "the limit did not grow back after recovery: {end_lims:?}"
    );
    // Per second: the low phase's 0.4 s against the end's 0.6 s.
    assert!(
        high.ok * 4 * 10 >= low.ok * 6 * 11,
        "goodput after recovery not above the low phase: low {low:?} high {high:?}"
    );
    assert_accounts(&SHIFTING_POOL.stats(), &t, 0);
}

// ---------------------------------------------------------------- admission timeouts

#[pooled::pooled(kind = "autoscale", policy = "adaptive", size = 8, min = 4, max = 16,
                 admission_timeout = "15ms", overload = is_overloaded)]
async fn impatient(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// "An admission timeout is not a drop": a healthy 60 ms server, 48 clients
/// with a 15 ms admission timeout (most calls time out in the pool's
/// queue). The limit must not collapse toward `min`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_timeouts_do_not_collapse_the_limit() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::Healthy, 1000, ms(60)).await;
    let url = format!("{url}/a");
    let client = client();
    let start = Instant::now();
    let limits = sample(start, || IMPATIENT_POOL.size());
    let run = ms(1500);
    let trace = drive(48, start, run, move || {
        let (c, u) = (client.clone(), url.clone());
        async move { impatient(&c, &u).await }
    })
    .await;
    let limits = limits.finish().await;
    let t = all(&trace);
    let lims = values_between(&limits, ms(0), Duration::MAX);
    eprintln!("impatient {t:?} limits {lims:?}");
    assert!(
        t.timed_out > 100,
        "the admission timeout should bite: {t:?}"
    );
    assert!(
        lims[0] >= 8,
        "the limit fell below its start with no drop: {lims:?}"
    );
    assert!(server.peak() <= 16, "server saw {}", server.peak());
    assert_eq!(t.overloaded + t.status + t.http, 0, "{t:?}");
    assert_accounts(&IMPATIENT_POOL.stats(), &t, 0);
}

#[pooled::group(
    kind = "autoscale",
    policy = "adaptive",
    size = 6,
    min = 3,
    max = 12,
    admission_timeout = "10ms"
)]
struct Impatient50;

#[pooled::pooled(group = Impatient50, overload = is_overloaded)]
async fn impatient_group(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// The same through a group with its own admission timeout, and through a
/// builder pool with one (`submit_judged`): a flood of admission timeouts
/// never cuts either limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_timeouts_group_and_builder_keep_limit() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::Healthy, 1000, ms(80)).await;
    let pool = Arc::new(
        adaptive_builder()
            .size(6)
            .min(3)
            .max(12)
            .admission_timeout(ms(10))
            .build()
            .unwrap(),
    );
    let client = client();
    let start = Instant::now();
    let watched = pool.clone();
    let group_limits = sample(start, || Impatient50::POOL.size());
    let pool_limits = sample(start, move || watched.size());
    let run = ms(1500);
    let (c1, u1) = (client.clone(), format!("{url}/a"));
    let group_trace = drive(30, start, run, move || {
        let (c, u) = (c1.clone(), u1.clone());
        async move { impatient_group(&c, &u).await }
    });
    let (p, c2, u2) = (pool.clone(), client.clone(), format!("{url}/b"));
    let pool_trace = drive(30, start, run, move || {
        let (p, c, u) = (p.clone(), c2.clone(), u2.clone());
        async move { judged(&p, &c, &u).await }
    });
    let (group_trace, pool_trace) = tokio::join!(group_trace, pool_trace);
    let group_limits = group_limits.finish().await;
    let pool_limits = pool_limits.finish().await;
    let (g, p) = (all(&group_trace), all(&pool_trace));
    let gl = values_between(&group_limits, ms(0), Duration::MAX);
    let pl = values_between(&pool_limits, ms(0), Duration::MAX);
    eprintln!("group {g:?} {gl:?} pool {p:?} {pl:?}");
    assert!(g.timed_out > 50 && p.timed_out > 50, "{g:?} {p:?}");
    assert!(gl[0] >= 6, "group limit fell below its start: {gl:?}");
    assert!(pl[0] >= 6, "pool limit fell below its start: {pl:?}");
    assert!(server.peak() <= 24, "server saw {}", server.peak());
    assert_accounts(&Impatient50::POOL.stats(), &g, 0);
    assert_accounts(&pool.stats(), &p, 0);
}

#[pooled::group(kind = "autoscale", policy = "adaptive", size = 4, min = 2, max = 8)]
struct LongQueue50;

#[pooled::pooled(group = LongQueue50, overload = is_overloaded)]
async fn long_queue(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// "Time spent waiting in the pool is not the server's": 64 clients queue
/// for hundreds of milliseconds in front of a healthy 40 ms server of room
/// for far more. The limit grows (calls wait, latency is flat) and never
/// falls below its start, as it would if the queue's wait were read as
/// latency (several times the floor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_pool_queue_is_not_server_latency() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::Healthy, 1000, ms(40)).await;
    let url = format!("{url}/a");
    let client = client();
    let start = Instant::now();
    let limits = sample(start, || LongQueue50::POOL.size());
    let run = ms(1500);
    let trace = drive(64, start, run, move || {
        let (c, u) = (client.clone(), url.clone());
        async move { long_queue(&c, &u).await }
    })
    .await;
    let limits = limits.finish().await;
    let t = all(&trace);
    let lims = values_between(&limits, ms(0), Duration::MAX);
    let late = values_between(&limits, ms(1000), run);
    eprintln!("long queue {t:?} limits {lims:?}");
    assert!(lims[0] >= 4, "the limit fell below its start: {lims:?}");
    assert!(
        late[late.len() / 2] >= 6,
        "the limit did not grow: {lims:?}"
    );
    assert!(server.peak() <= 8, "server saw {} > max 8", server.peak());
    assert_eq!(t.calls, t.ok, "{t:?}");
    assert_accounts(&LongQueue50::POOL.stats(), &t, 0);
}

// ---------------------------------------------------------------- predicate

#[pooled::pooled(kind = "autoscale", policy = "adaptive", size = 12, min = 2, max = 24,
                 overload = is_overloaded)]
async fn errors_500(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// Only errors the `overload` predicate accepts are drops: a server that
/// answers 500 at once above 4 in flight gives many errors the predicate
/// rejects, and no cut follows (one would take 12 to 6 or less).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_the_predicate_rejects_never_cut() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::Err500, 4, ms(40)).await;
    let url = format!("{url}/a");
    let client = client();
    let start = Instant::now();
    let limits = sample(start, || ERRORS_500_POOL.size());
    let run = ms(1500);
    let trace = drive(30, start, run, move || {
        let (c, u) = (client.clone(), url.clone());
        async move { errors_500(&c, &u).await }
    })
    .await;
    let limits = limits.finish().await;
    let t = all(&trace);
    let lims = values_between(&limits, ms(0), Duration::MAX);
    eprintln!("500s {t:?} limits {lims:?}");
    assert!(t.status > 100, "the server should answer many 500s: {t:?}");
    assert!(
        lims[0] > 6,
        "the limit was cut by errors not judged overload: {lims:?}"
    );
    assert!(server.peak() <= 24, "server saw {}", server.peak());
    assert_accounts(&ERRORS_500_POOL.stats(), &t, 0);
}

// ---------------------------------------------------------------- hard limit

#[pooled::group(kind = "autoscale", policy = "adaptive", min = 2, max = 6)]
struct Shared50;

#[pooled::pooled(group = Shared50, overload = is_overloaded)]
async fn shared_a(client: &reqwest::Client, base: &str) -> Result<(), CallError> {
    fetch(client, &format!("{base}/a")).await
}

#[pooled::pooled(group = Shared50, overload = is_overloaded)]
async fn shared_b(client: &reqwest::Client, base: &str) -> Result<(), CallError> {
    fetch(client, &format!("{base}/b")).await
}

/// Two functions of one adaptive group, 80 clients on two routes of one
/// server with room for far more: the server never sees more than the
/// group's `max` = 6 together, and the group counts every call of both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_group_never_exceeds_max_across_functions() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::FailFast, 1000, ms(15)).await;
    let client = client();
    let start = Instant::now();
    let limits = sample(start, || Shared50::POOL.size());
    let run = ms(1500);
    let (c1, u1) = (client.clone(), url.clone());
    let a = drive(40, start, run, move || {
        let (c, u) = (c1.clone(), u1.clone());
        async move { shared_a(&c, &u).await }
    });
    let (c2, u2) = (client.clone(), url.clone());
    let b = drive(40, start, run, move || {
        let (c, u) = (c2.clone(), u2.clone());
        async move { shared_b(&c, &u).await }
    });
    let (mut a, b) = tokio::join!(a, b);
    let limits = limits.finish().await;
    a.extend(b);
    let t = all(&a);
    eprintln!("shared {t:?} peak {}", server.peak());
    assert!(server.peak() <= 6, "server saw {} > max 6", server.peak());
    assert!(
        limits.iter().all(|(_, l)| (2..=6).contains(l)),
        "{limits:?}"
    );
    assert_eq!(t.calls, t.ok, "{t:?}");
    assert_accounts(&Shared50::POOL.stats(), &t, 0);
}

/// Slow 503s and a tiny `max`: 60 clients, a builder pool of `max` = 5
/// against a slow-refusing server of 3. The server never sees more than 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_503_never_past_max_builder() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::SlowReject, 3, ms(20)).await;
    let url = format!("{url}/a");
    let pool = Arc::new(adaptive_builder().min(1).max(5).build().unwrap());
    let client = client();
    let start = Instant::now();
    let p = pool.clone();
    let trace = drive(60, start, ms(1200), move || {
        let (p, c, u) = (p.clone(), client.clone(), url.clone());
        async move { judged(&p, &c, &u).await }
    })
    .await;
    let t = all(&trace);
    eprintln!("tiny max {t:?} peak {}", server.peak());
    assert!(server.peak() <= 5, "server saw {} > max 5", server.peak());
    assert!(t.ok > 0, "{t:?}");
    assert_accounts(&pool.stats(), &t, 0);
}

/// Every kind of ending at once, and the stats still account for each call:
/// a builder pool with `max_waiting`, an admission timeout, callers that
/// give up (`tokio::time::timeout` drops the call), 503s from the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_endings_are_all_accounted() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::FailFast, 4, ms(30)).await;
    let url = format!("{url}/a");
    let pool = Arc::new(
        adaptive_builder()
            .size(4)
            .min(2)
            .max(8)
            .max_waiting(10)
            .admission_timeout(ms(40))
            .build()
            .unwrap(),
    );
    let client = client();
    let start = Instant::now();
    let run = ms(1200);
    let gave_up = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (p, c, u, g) = (pool.clone(), client.clone(), url.clone(), gave_up.clone());
            tokio::spawn(async move {
                let mut outcomes = Trace::new();
                while start.elapsed() < run {
                    if i % 4 == 0 {
                        // A caller that gives up after 20 ms.
                        match tokio::time::timeout(ms(20), judged(&p, &c, &u)).await {
                            Ok(out) => {
                                if matches!(out, Err(CallError::Rejected(Rejected::Full))) {
                                    tokio::time::sleep(ms(3)).await;
                                }
                                outcomes.push((start.elapsed(), out));
                            }
                            Err(_) => {
                                g.fetch_add(1, SeqCst);
                            }
                        }
                    } else {
                        let out = judged(&p, &c, &u).await;
                        let full = matches!(out, Err(CallError::Rejected(Rejected::Full)));
                        outcomes.push((start.elapsed(), out));
                        if full {
                            // Turned away at once: do not spin.
                            tokio::time::sleep(ms(3)).await;
                        }
                    }
                }
                outcomes
            })
        })
        .collect();
    let mut trace = Trace::new();
    for task in tasks {
        trace.extend(
            tokio::time::timeout(BOUND, task)
                .await
                .expect("hang")
                .unwrap(),
        );
    }
    let t = all(&trace);
    let stats = pool.stats();
    let gave_up = gave_up.load(SeqCst) as u64;
    eprintln!("mixed {t:?} gave up {gave_up} {stats:?}");
    assert!(server.peak() <= 8, "server saw {} > max 8", server.peak());
    assert!(
        t.full > 0 && t.timed_out > 0 && gave_up > 0,
        "{t:?} {gave_up}"
    );
    assert_eq!(stats.running + stats.waiting + stats.nested, 0, "{stats:?}");
    // A call given up while waiting is `cancelled`; one given up while it
    // ran is `completed` (its slot released on drop): together `gave_up`.
    assert_eq!(
        stats.submitted(),
        stats.completed + stats.rejected_total() + stats.cancelled,
        "{stats:?}"
    );
    assert_eq!(
        stats.submitted(),
        t.calls as u64 + gave_up,
        "{stats:?} {t:?}"
    );
    assert_eq!(
        stats.rejected_total(),
        t.rejected() as u64,
        "{stats:?} {t:?}"
    );
    assert_eq!(
        stats.rejected_for(Rejected::Full),
        t.full as u64,
        "{stats:?} {t:?}"
    );
    assert_eq!(
        stats.completed + stats.cancelled,
        (t.calls - t.rejected()) as u64 + gave_up,
        "{stats:?} {t:?}"
    );
}

/// A slow server's burst: a builder pool at 16 against a server of 8 that
/// refuses the rest only after its full 250 ms. The 8 refusals arrive
/// together with the 8 successes, a round trip after the start: one cut,
/// to no less than 16 × 0.5 = 8, however the burst trickles in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_refusal_burst_is_one_cut() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::SlowReject, 8, ms(250)).await;
    let url = format!("{url}/a");
    let pool = Arc::new(adaptive_builder().size(16).min(2).max(32).build().unwrap());
    let client = client();
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (p, c, u) = (pool.clone(), client.clone(), url.clone());
            tokio::spawn(async move { judged(&p, &c, &u).await })
        })
        .collect();
    let mut trace = Trace::new();
    for call in calls {
        let out = tokio::time::timeout(BOUND, call)
            .await
            .expect("hang")
            .unwrap();
        trace.push((Duration::ZERO, out));
    }
    let t = all(&trace);
    let size = pool.size();
    eprintln!("slow burst {t:?} size {size}");
    assert_eq!((t.ok, t.overloaded), (8, 8), "{t:?}");
    assert!(size < 16, "8 of 16 refused, limit still {size}");
    assert!(
        size >= 8,
        "one burst cut to {size}: past 16 × backoff (cascade)"
    );
    assert!(server.peak() <= 32);
    assert_accounts(&pool.stats(), &t, 0);
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 2, max = 64,
                 overload = is_overloaded)]
async fn recurring(client: &reqwest::Client, url: &str) -> Result<(), CallError> {
    fetch(client, url).await
}

/// "After which it grows slowly near the level that drew them" / "Growth
/// within a step of the limit that last drew drops ... is a tenth of a slot
/// per window": after a cut from the level L to L − 1, the limit needs ten
/// windows (≥ 10 × 100 ms) to reach L again, so in 1.5 s of steady state a
/// fail-fast server (8 × 25 ms, 48 clients) sees at most ~2 episodes of
/// 503s. The limit jumped back to L in the next window
/// (`grow`: `limit.max(level − 0.1) + 0.1` is the level itself when the
/// limit is a step below it), and a burst of 503s recurred every window
/// (fixed; the cut's fraction of a slot still brings one every few
/// windows: see the file's header).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "open (README, adaptive known limits): a cut lands a fraction of a slot under the round-up point, so the tenth-of-a-slot growth probes the slot above every few windows (the jump back in one window is fixed)"]
async fn steady_state_drops_do_not_recur_every_window() {
    let _serial = SERIAL.lock().await;
    let (url, server) = serve(Model::FailFast, 8, ms(25)).await;
    let url = format!("{url}/a");
    let client = client();
    let start = Instant::now();
    // The limit's changes, read every millisecond.
    let changes = std::thread::spawn(move || {
        let mut last = RECURRING_POOL.size();
        let mut changes = Vec::new();
        while start.elapsed() < ms(3000) {
            let now = RECURRING_POOL.size();
            if now != last {
                changes.push((start.elapsed().as_millis(), now));
                last = now;
            }
            std::thread::sleep(ms(1));
        }
        changes
    });
    let run = ms(3000);
    let trace = drive(48, start, run, move || {
        let (c, u) = (client.clone(), url.clone());
        async move { recurring(&c, &u).await }
    })
    .await;
    let changes = changes.join().expect("the watcher");
    let mut refusals: Vec<_> = trace
        .iter()
        .filter(|(at, out)| *at >= ms(1500) && matches!(out, Err(CallError::Overloaded)))
        .map(|(at, _)| *at)
        .collect();
    refusals.sort_unstable();
    // An episode: 503s more than 40 ms after the previous one.
    let episodes = refusals
        .iter()
        .enumerate()
        .filter(|(i, at)| *i == 0 || **at - refusals[i - 1] > ms(40))
        .count();
    let late = tally(&trace, ms(1500), run);
    eprintln!("recurring {late:?} episodes {episodes} limit changes {changes:?}");
    assert!(server.peak() <= 64, "server saw {}", server.peak());
    assert_accounts(&RECURRING_POOL.stats(), &all(&trace), 0);
    assert!(
        episodes <= 4,
        "{episodes} episodes of 503s in 1.5 s of steady state ({late:?}); \
         limit changes (ms, size): {changes:?}"
    );
}
