//! Poll-level test harness: drive futures by hand and check wakeups
//! deterministically (in the manner of `tokio-test`'s `task::spawn`).
#![allow(dead_code)]

pub mod barging;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand, with a waker that counts its wakeups.
pub struct Task<F> {
    fut: Pin<Box<F>>,
    wakes: Arc<CountingWaker>,
    waker: Waker,
}

impl<F: Future> Task<F> {
    pub fn new(fut: F) -> Self {
        let wakes = Arc::new(CountingWaker::default());
        Task {
            fut: Box::pin(fut),
            waker: Waker::from(wakes.clone()),
            wakes,
        }
    }

    pub fn poll(&mut self) -> Poll<F::Output> {
        self.wakes.0.store(0, Ordering::SeqCst);
        self.fut
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker))
    }

    /// Whether the task was woken since its last poll.
    pub fn is_woken(&self) -> bool {
        self.wakes.0.load(Ordering::SeqCst) > 0
    }

    #[track_caller]
    pub fn assert_pending(&mut self) {
        assert!(
            self.poll().is_pending(),
            "expected the future to be pending"
        );
    }

    #[track_caller]
    pub fn assert_ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected the future to be ready"),
        }
    }
}

/// Pending on its first poll (without asking to be woken), done on the
/// second: holds its slot until polled again.
#[derive(Default)]
pub struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A future that stays pending until `open` is set, for holding a slot.
pub struct Gate(pub Arc<std::sync::atomic::AtomicBool>);

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

pub fn gate() -> (Gate, Arc<std::sync::atomic::AtomicBool>) {
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    (Gate(open.clone()), open)
}

/// Yields to the executor once.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Counts bodies running at once, from outside the pool: each body holds
/// the guard [`Meter::enter`] returns.
#[derive(Clone, Default)]
pub struct Meter {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
}

/// One body running, until dropped.
pub struct Inside(Meter);

impl Meter {
    pub fn enter(&self) -> Inside {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        Inside(self.clone())
    }

    /// A body that stays busy for `ms` (on tokio's timer).
    pub async fn body(self, ms: u64) {
        let _inside = self.enter();
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Bodies running now.
    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    /// The most bodies ever running at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    /// Bodies that ended (completed, dropped or panicked).
    pub fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        self.0.done.fetch_add(1, Ordering::SeqCst);
    }
}

/// Every call the pool saw is accounted for by counters kept apart.
#[track_caller]
pub fn assert_accounted(stats: &pool_runtime::Stats) {
    assert_eq!(
        stats.submitted(),
        stats.completed // (panicked calls are among the completed)
            + stats.cancelled
            + stats.rejected_total()
            + stats.running as u64
            + stats.nested as u64
            + stats.waiting as u64,
        "{stats:?}"
    );
}

/// Configuration (and the ceiling it sets) is process-wide: the tests of one
/// binary that load it take turns, each starting from no configuration.
#[cfg(feature = "config")]
pub fn config_turn() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    pool_runtime::config::clear();
    guard
}

/// Environment variables for `config::load_env_from`.
pub fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Silences the default panic hook for the panics tests cause on purpose
/// (messages starting with "planned"); any other panic is reported as usual.
pub fn quiet_planned_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let planned = payload
                .downcast_ref::<&str>()
                .map(|s| s.starts_with("planned"))
                .or_else(|| {
                    payload
                        .downcast_ref::<String>()
                        .map(|s| s.starts_with("planned"))
                })
                .unwrap_or(false);
            if !planned {
                default(info);
            }
        }));
    });
}

struct PanickingWake;

impl Wake for PanickingWake {
    fn wake(self: Arc<Self>) {
        panic!("planned: a waker whose wake panics");
    }
}

/// A waker whose `wake` panics (a planned panic).
pub fn panicking_waker() -> Waker {
    Waker::from(Arc::new(PanickingWake))
}

/// A waker (and its clones) whose `Drop` panics while `armed` is set and
/// the thread is not already unwinding (a planned panic); waking does
/// nothing.
#[allow(dead_code)]
pub fn waker_whose_drop_panics(armed: &'static std::sync::atomic::AtomicBool) -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, noop, noop, drop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    unsafe fn drop(data: *const ()) {
        let armed = unsafe { &*(data as *const std::sync::atomic::AtomicBool) };
        if armed.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!("planned: a waker whose drop panics");
        }
    }
    unsafe {
        Waker::from_raw(RawWaker::new(
            armed as *const std::sync::atomic::AtomicBool as *const (),
            vtable(),
        ))
    }
}

/// A waker whose `clone` panics while `armed` is set, disarming it (once
/// per arming; a planned panic); waking and dropping do nothing.
pub fn waker_whose_clone_panics_once(armed: &'static std::sync::atomic::AtomicBool) -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, noop, noop, noop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        let armed = unsafe { &*(data as *const std::sync::atomic::AtomicBool) };
        if armed.swap(false, Ordering::SeqCst) {
            panic!("planned: a waker whose clone panics");
        }
        RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    unsafe {
        Waker::from_raw(RawWaker::new(
            armed as *const std::sync::atomic::AtomicBool as *const (),
            vtable(),
        ))
    }
}

/// The variable naming the test a child process runs ([`in_child_process`]).
const CHILD: &str = "CHILD_TEST_NAME";

/// How long a child process of [`in_child_process`] may run.
const CHILD_BOUND: Duration = Duration::from_secs(30);

/// Runs the test `name` (the calling test's own name) again in a child
/// process of this test binary, with `env` set (names and values as raw
/// bytes: they need not be unicode) and the parent's `POOLED_CONFIG` and
/// `POOLED_CEILING` removed, checks that it passed within 30 s, and
/// returns what it wrote to stderr. In the child, runs `scenario` and
/// returns nothing. For what a process does once: a group's first use
/// reads the environment, a panic on a thread nobody joins, a global
/// logger. An ignored test's child runs it too (`--include-ignored`), so
/// `--ignored` runs the scenario.
pub fn in_child_process(name: &str, env: &[(&[u8], &[u8])], scenario: impl FnOnce()) -> String {
    use std::os::unix::ffi::OsStrExt;
    if std::env::var(CHILD).as_deref() == Ok(name) {
        scenario();
        return String::new();
    }
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            name,
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(CHILD, name)
        .env_remove("POOLED_CONFIG")
        .env_remove("POOLED_CEILING");
    for (k, v) in env {
        command.env(
            std::ffi::OsStr::from_bytes(k),
            std::ffi::OsStr::from_bytes(v),
        );
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_BOUND {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{name}: the child process hung\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        status.success() && stdout.contains("1 passed"),
        "{name}: the child process failed ({status})\n{stdout}{stderr}"
    );
    stderr
}

/// [`in_child_process`] with unicode names and values, its stderr unread.
pub fn in_own_process(name: &str, env: &[(&str, &str)], scenario: impl FnOnce()) {
    let env: Vec<(&[u8], &[u8])> = env
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect();
    in_child_process(name, &env, scenario);
}

/// Whether this process is a child [`in_child_process`] started.
pub fn is_child_process() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs `f` on a thread of its own and returns its result (its panic goes
/// on), failing instead of hanging the suite if it takes longer than
/// `limit`.
#[track_caller]
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => out,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("hung: no answer within {limit:?}"),
    }
}

/// A multi-thread tokio runtime of two workers, timers on (the machine CI
/// runs on has two cores).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A metrics gauge that moves by differences, as the library's do
/// (`increment`/`decrement`), and keeps its value for a test to read.
#[cfg(feature = "metrics")]
#[derive(Default)]
pub struct Level(pub std::sync::Mutex<f64>);

#[cfg(feature = "metrics")]
impl metrics::GaugeFn for Level {
    fn increment(&self, value: f64) {
        *self.0.lock().unwrap() += value;
    }
    fn decrement(&self, value: f64) {
        *self.0.lock().unwrap() -= value;
    }
    fn set(&self, value: f64) {
        *self.0.lock().unwrap() = value;
    }
}

/// A metrics recorder that keeps every counter, gauge and histogram it
/// registers, by name and sorted labels (`name{label=value,...}`), for a
/// test to read back: install it globally, or with `with_local_recorder`
/// while a pool is built (the handles keep reporting to it afterwards).
#[cfg(feature = "metrics")]
#[derive(Default)]
pub struct Capture {
    pub counters: std::sync::Mutex<std::collections::BTreeMap<String, Arc<Count>>>,
    pub gauges: std::sync::Mutex<std::collections::BTreeMap<String, Arc<Level>>>,
    pub histograms: std::sync::Mutex<std::collections::BTreeMap<String, Arc<Samples>>>,
}

/// A captured counter.
#[cfg(feature = "metrics")]
#[derive(Default)]
pub struct Count(pub std::sync::atomic::AtomicU64);

#[cfg(feature = "metrics")]
impl metrics::CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::SeqCst);
    }
}

/// A captured histogram: every value recorded.
#[cfg(feature = "metrics")]
#[derive(Default)]
pub struct Samples(pub std::sync::Mutex<Vec<f64>>);

#[cfg(feature = "metrics")]
impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// `name{label=value,...}`, labels sorted.
#[cfg(feature = "metrics")]
pub fn render(key: &metrics::Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

#[cfg(feature = "metrics")]
fn captured<T: Default>(
    map: &std::sync::Mutex<std::collections::BTreeMap<String, Arc<T>>>,
    key: &metrics::Key,
) -> Arc<T> {
    map.lock().unwrap().entry(render(key)).or_default().clone()
}

#[cfg(feature = "metrics")]
impl metrics::Recorder for Capture {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(captured(&self.counters, key))
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(captured(&self.gauges, key))
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::from_arc(captured(&self.histograms, key))
    }
}

#[cfg(feature = "metrics")]
impl Capture {
    /// The `pooled.calls` counter of `pool` for `outcome` (and `reason`).
    pub fn calls(&self, pool: &str, outcome: &str, reason: Option<&str>) -> u64 {
        let key = match reason {
            Some(r) => format!("pooled.calls{{outcome={outcome},pool={pool},reason={r}}}"),
            None => format!("pooled.calls{{outcome={outcome},pool={pool}}}"),
        };
        let counters = self.counters.lock().unwrap();
        counters.get(&key).map_or(0, |c| c.0.load(Ordering::SeqCst))
    }

    /// The gauge `name` of `pool`, if it was registered.
    pub fn gauge(&self, name: &str, pool: &str) -> Option<f64> {
        let key = format!("{name}{{pool={pool}}}");
        let gauges = self.gauges.lock().unwrap();
        gauges.get(&key).map(|g| *g.0.lock().unwrap())
    }
}

/// Runs `scenario` on a current-thread tokio runtime of its own thread;
/// fails if it has not finished within 20 s (a loop spinning for good, or a
/// wake-up lost).
pub fn on_one_thread<T: Send + 'static>(
    scenario: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = done.send(rt.block_on(scenario));
    });
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the scenario hung (a loop spinning for good, or a wake-up lost)")
}

/// Retries `attempt` until it is let in, in a loop that never waits; the
/// rejections it saw, each the one `expected`.
pub async fn retry<T, F: std::future::Future<Output = Result<T, pool_runtime::Rejected>>>(
    expected: pool_runtime::Rejected,
    mut attempt: impl FnMut() -> F,
) -> u64 {
    let mut rejected = 0;
    loop {
        match attempt().await {
            Ok(_) => return rejected,
            Err(reason) => {
                assert_eq!(reason, expected);
                rejected += 1;
            }
        }
    }
}

/// Waits, at most 20 s, until `cond` holds (a condition on state, looked at
/// every millisecond, not a sleep as synchronization); fails naming `what`.
#[track_caller]
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "never: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
