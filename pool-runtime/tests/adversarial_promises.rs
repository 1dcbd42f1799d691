//! Hostile tests of the README's and the docs' promises, on the paths the
//! other suites leave alone: panicking wakers where the library cannot
//! re-raise their panic (the timer thread, a release during unwinding),
//! extreme timeouts, cancellation between admission and the first poll,
//! wakers that change between polls, reentrancy through permits, and races
//! of close/abort/pause/resize with parked sync callers. Each test says which
//! broken promise it would catch. Concurrency is counted from outside the
//! library; every wait is bounded, so a hang fails instead of freezing CI.
//!
//! Scenarios that could kill the process (an abort) or a process-wide
//! resource (the timer thread) run in a child process: this test binary
//! re-executes itself with one test selected.
#![cfg(feature = "tokio")]

mod common;

use common::assert_accounted;
use pool_runtime::{Pool, Rejected};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Silences the default hook for the panics these tests cause on purpose.
fn quiet_planned_panics() {
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

fn panicking_waker() -> Waker {
    Waker::from(Arc::new(PanickingWake))
}

/// Runs `f` on a thread of its own and fails (instead of hanging) if it
/// takes longer than `limit`.
#[track_caller]
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => out,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("hung: no answer within {limit:?}"),
    }
}

const CHILD: &str = "POOLED_ADVERSARIAL_CHILD";

/// Runs `scenario` in a child process (this binary, with only the test
/// `name` selected), so that an abort or a dead process-wide thread cannot
/// take the rest of the suite with it. Fails if the child does not exit
/// successfully within 20 s. In the child, runs `scenario` itself.
fn in_child_process(name: &str, scenario: impl FnOnce()) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        scenario();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
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
    assert!(
        status.success() && stdout.contains("1 passed"),
        "{name}: the child process failed ({status})\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- panicking wakers where nobody can take the panic ----------------------

/// Promise: "a waker whose `wake` panics does not stop the rest of its
/// batch", and admission timeouts "work under any executor or none".
/// Catches: the timer thread dying on the first panicking waker it wakes,
/// after which no admission timeout in the process ever fires (a hang).
#[test]
fn a_panicking_waker_on_the_timer_thread_does_not_stop_later_timeouts() {
    in_child_process(
        "a_panicking_waker_on_the_timer_thread_does_not_stop_later_timeouts",
        || {
            quiet_planned_panics();
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(20))
                .build()
                .unwrap();
            let held = pool.try_acquire().unwrap();
            let waker = panicking_waker();
            let mut bad = Box::pin(pool.submit(async {}));
            assert!(bad
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            // The timer fires for it, and its waker panics on the timer thread.
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(
                bad.as_mut().poll(&mut noop_cx()),
                Poll::Ready(Err(Rejected::TimedOut))
            );
            drop(bad);
            // A later async call that must wait still times out.
            let pool2 = pool.clone();
            let later = within(Duration::from_secs(5), move || {
                futures::executor::block_on(pool2.submit(async {}))
            });
            assert_eq!(later, Err(Rejected::TimedOut));
            drop(held);
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::TimedOut), 2, "{s:?}");
            assert_accounted(&s);
        },
    );
}
