//! Helpers for the tests of sync barging (`GroupSettings::sync_barging`):
//! a barging pool, a call that holds a slot, callers on threads of their
//! own whose outcome a test can wait for with a bound.

use super::{PendingOnce, Task};
use pool_runtime::{Pool, Rejected};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A bound no test waits out: a caller that is still in the room when the
/// test expects it elsewhere hangs the test (which `within` fails).
pub const FOREVER: Duration = Duration::from_secs(3600);

/// A fixed pool of `size` slots whose sync callers may barge for `bound`.
pub fn barging(size: usize, bound: Duration) -> Pool {
    Pool::builder()
        .size(size)
        .sync_barging(bound)
        .build()
        .unwrap()
}

/// Spins (sleeping) until `cond` holds; the caller bounds the wait.
pub fn wait_until(cond: impl Fn() -> bool) {
    while !cond() {
        thread::sleep(Duration::from_millis(1));
    }
}

/// A call holding one of `pool`'s slots until polled again.
#[track_caller]
pub fn hold(pool: &Pool) -> Task<impl std::future::Future<Output = Result<(), Rejected>> + use<>> {
    let before = pool.stats().running;
    let mut held = Task::new({
        let pool = pool.clone();
        async move { pool.submit(PendingOnce::default()).await }
    });
    held.assert_pending();
    assert_eq!(pool.stats().running, before + 1, "holder admitted");
    held
}

/// Runs `f` on a thread; its outcome (or its panic's message) comes back
/// on the receiver, which a test can poll without joining.
pub fn spawn_caller<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> mpsc::Receiver<Result<T, String>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        });
        let _ = tx.send(out);
    });
    rx
}

/// The caller's outcome, which must come within `limit`.
#[track_caller]
pub fn outcome<T>(rx: &mpsc::Receiver<Result<T, String>>, limit: Duration) -> T {
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => out,
        Ok(Err(panic)) => panic!("the caller panicked: {panic}"),
        Err(_) => panic!("the caller did not return within {limit:?}"),
    }
}

/// The tests of a file take turns (they count on threads being scheduled
/// within a few hundred milliseconds, which CPU-hungry neighbours on a
/// two-core machine would blur): one turn per test binary.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
