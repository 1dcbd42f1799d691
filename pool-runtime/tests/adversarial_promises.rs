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
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

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

/// Promise: "a waker whose `wake` panics does not stop the rest of its
/// batch (the first panic is re-raised once all are woken)", and a
/// panicking call "frees its slot and the panic reaches the caller".
/// Catches: a slot released while its holder unwinds (a permit dropped by a
/// panic), handed to a waiter whose waker panics, re-raising that panic
/// inside a destructor during unwinding: the process aborts.
#[test]
fn a_permit_released_by_a_panic_to_a_panicking_waker_does_not_abort() {
    in_child_process(
        "a_permit_released_by_a_panic_to_a_panicking_waker_does_not_abort",
        || {
            quiet_planned_panics();
            let pool = fixed(1);
            let held = pool.try_acquire().unwrap();
            let waker = panicking_waker();
            let mut bad = Box::pin(pool.acquire());
            assert!(bad
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            let out = catch_unwind(AssertUnwindSafe(move || {
                let _held = held;
                panic!("planned: the permit's holder panics");
            }));
            assert!(out.is_err());
            match bad.as_mut().poll(&mut noop_cx()) {
                Poll::Ready(Ok(permit)) => drop(permit),
                other => panic!("the slot was not handed on: {:?}", other.is_ready()),
            }
            drop(bad);
            let s = pool.stats();
            assert_eq!((s.completed, s.running, s.waiting), (2, 0, 0), "{s:?}");
            assert_accounted(&s);
        },
    );
}

/// As above, for a sync `run` whose closure panics and an async `submit`
/// whose work panics inside `block_on`: both release their slot while
/// unwinding.
#[test]
fn a_call_whose_work_panics_handing_its_slot_to_a_panicking_waker_does_not_abort() {
    in_child_process(
        "a_call_whose_work_panics_handing_its_slot_to_a_panicking_waker_does_not_abort",
        || {
            quiet_planned_panics();
            let pool = fixed(1);
            // A waiter queued from another thread, with a panicking waker,
            // while this thread's call holds the slot.
            let queue_bad_waiter = |pool: &Pool| {
                let (queued_tx, queued_rx) = mpsc::channel();
                let (go_tx, go_rx) = mpsc::channel::<()>();
                let pool = pool.clone();
                let waiter = std::thread::spawn(move || {
                    let waker = panicking_waker();
                    let mut bad = Box::pin(pool.submit(async { 7 }));
                    assert!(bad
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending());
                    queued_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    bad.as_mut().poll(&mut noop_cx())
                });
                queued_rx.recv().unwrap();
                (waiter, go_tx)
            };

            let queued = Mutex::new(None);
            let check = |queued: &Mutex<Option<(std::thread::JoinHandle<_>, mpsc::Sender<()>)>>| {
                let (waiter, go) = queued.lock().unwrap().take().unwrap();
                go.send(()).unwrap();
                assert_eq!(
                    waiter.join().unwrap(),
                    Poll::Ready(Ok(7)),
                    "the slot was handed on"
                );
            };
            let sync = catch_unwind(AssertUnwindSafe(|| {
                pool.run(|| {
                    *queued.lock().unwrap() = Some(queue_bad_waiter(&pool));
                    panic!("planned: the sync work panics");
                })
            }));
            assert!(sync.is_err());
            check(&queued);

            let asynchronous = catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(pool.submit(async {
                    *queued.lock().unwrap() = Some(queue_bad_waiter(&pool));
                    panic!("planned: the async work panics");
                }))
            }));
            assert!(asynchronous.is_err());
            check(&queued);
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.panicked, s.running, s.waiting),
                (4, 2, 0, 0),
                "{s:?}"
            );
            assert_accounted(&s);
        },
    );
}
