//! Review of the fixes of adversarial rounds 9 and 10: a test per problem
//! found, each failing before its fix.

mod common;

#[allow(unused_imports)]
use common::*;
#[allow(unused_imports)]
use std::time::Duration;

// ---- isolation: the innermost call of the group decides ------------------------

/// A thread can run one test's work inside another's (rayon's `join` steals
/// queued jobs; here a future polled inside another). A call of a group
/// nested in the work of the group's *shared* pool, itself polled inside the
/// work of an isolated instance of the group, is nested in the shared call:
/// it belongs to the shared pool (and borrows that call's slot), not to the
/// instance further out. The look-up walked past the shared pool's frame to
/// the instance's.
#[cfg(feature = "test-util")]
#[test]
fn a_call_nested_in_shared_work_inside_an_instance_s_work_stays_shared() {
    use pool_runtime::{Group, GroupSpec};
    static GROUP: Group = Group::new(GroupSpec::new("review::innermost_shared").size(1));
    within(Duration::from_secs(10), || {
        // Another test's call of the shared pool (made before this test
        // isolates the group on this thread, so it is the shared pool's),
        // whose work calls the group again.
        let shared = GROUP.pool();
        let shared_work = GROUP.submit(0, async { GROUP.submit(0, async { 1 }).await });

        let isolation = GROUP.isolate();
        let instance = isolation.pool();
        // This test's call, polled on a thread of no test (as a rayon worker
        // is): the other test's call runs inside its work.
        let mine = GROUP.submit(0, async move { Task::new(shared_work).assert_ready() });
        let out = std::thread::spawn(move || futures::executor::block_on(mine))
            .join()
            .unwrap();
        assert_eq!(out, Ok(Ok(Ok(1))));

        let (shared, instance) = (shared.stats(), instance.stats());
        assert_eq!(
            (shared.completed, shared.nested),
            (2, 0),
            "the nested call is the shared pool's: {shared:?}"
        );
        assert_eq!(
            instance.completed, 1,
            "only this test's own call is the instance's: {instance:?}"
        );
        assert_accounted(&shared);
        assert_accounted(&instance);
        drop(isolation);
    });
}

// ---- ceiling: a blocking group call's slot ---------------------------------------

/// Pins 5750c9e: a rejecting blocking group call holds its ceiling slot
/// while it waits for its group (dropped there, the ceiling's call is
/// cancelled, as the group's is) and, once admitted, hands it to its job,
/// which holds it to its end. Run in a child process: the ceiling is
/// process-wide.
#[cfg(feature = "config")]
#[test]
fn a_blocking_group_call_holds_its_ceiling_slot_from_the_wait_to_the_jobs_end() {
    use pool_runtime::{config, Group, GroupSpec};
    static NARROW: Group = Group::new(GroupSpec::new("review::ceiling_blocking").size(1));
    in_child_process(
        "a_blocking_group_call_holds_its_ceiling_slot_from_the_wait_to_the_jobs_end",
        &[],
        || {
            config::load_str("app.toml", "ceiling = 4\n").unwrap();
            let ceiling = || pool_runtime::ceiling::stats().unwrap();
            let rt = runtime();
            let holder = NARROW.try_acquire_owned(0).unwrap();

            let mut dropped = Task::new(Box::pin(NARROW.submit_blocking(0, || 0)));
            dropped.assert_pending();
            assert_eq!(ceiling().running, 2, "{:?}", ceiling());
            drop(dropped);
            let c = ceiling();
            assert_eq!((c.running, c.completed, c.cancelled), (1, 0, 1), "{c:?}");
            let g = NARROW.stats();
            assert_eq!((g.running, g.waiting, g.cancelled), (1, 0, 1), "{g:?}");

            // The job looks once the holder is wholly gone (its group slot
            // is freed before its ceiling slot: the job may start between).
            let (go, gone) = std::sync::mpsc::channel::<()>();
            let job = rt.spawn(NARROW.submit_blocking(0, move || {
                gone.recv_timeout(Duration::from_secs(5)).expect("hung");
                pool_runtime::ceiling::stats().unwrap().running
            }));
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while NARROW.stats().waiting == 0 {
                assert!(std::time::Instant::now() < deadline, "never waited");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(ceiling().running, 2, "{:?}", ceiling());
            drop(holder);
            go.send(()).unwrap();
            let inside = rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), job).await })
                .expect("hung")
                .unwrap();
            assert_eq!(inside, Ok(1), "the job holds the call's ceiling slot");
            let c = ceiling();
            assert_eq!((c.running, c.completed, c.cancelled), (0, 2, 1), "{c:?}");
            assert_accounted(&c);
            assert_accounted(&NARROW.stats());
        },
    );
}

// ---- tower: a held body whose `Drop` panics --------------------------------------

/// Pins 52304b2 against a panicking `Drop`: a held body dropped before its
/// end is dropped once, under its slot (a call of the same pool from its
/// `Drop` nests instead of waiting on the full pool), and when that `Drop`
/// panics the call ends panicked with its slot freed and every call
/// accounted for.
#[cfg(feature = "tower")]
#[test]
fn a_held_body_whose_drop_calls_the_pool_then_panics_is_dropped_once_under_its_slot() {
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PermitBody};
    use pool_runtime::{Pool, Rejected};
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    static DROPS: AtomicUsize = AtomicUsize::new(0);

    struct Unfinished {
        pool: Pool,
        nested: Option<Result<(), Rejected>>,
    }

    impl Body for Unfinished {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            Poll::Pending
        }
    }

    impl Drop for Unfinished {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
            self.nested = Some(self.pool.run(|| ()));
            assert_eq!(self.nested, Some(Ok(())), "nested under the body's slot");
            panic!("planned: the body's drop panics");
        }
    }

    quiet_planned_panics();
    within(Duration::from_secs(10), || {
        let pool = Pool::builder().size(1).build().unwrap();
        let body = PermitBody::new(
            Unfinished {
                pool: pool.clone(),
                nested: None,
            },
            pool.try_acquire_owned(0).unwrap(),
        );
        assert_eq!(pool.stats().running, 1);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(body)));
        assert!(dropped.is_err(), "the planned panic goes on");
        assert_eq!(DROPS.load(Ordering::SeqCst), 1, "dropped once");
        let stats = pool.stats();
        assert_eq!((stats.running, stats.nested), (0, 0), "{stats:?}");
        assert_eq!((stats.completed, stats.panicked), (2, 1), "{stats:?}");
        assert_accounted(&stats);
        assert!(pool.try_acquire().is_ok(), "the slot is free");
    });
}

// ---- a waker's panic on a cancelled call's release loses no report -------------

/// A call handed the slot and dropped before it saw it (a cancel of an
/// admitted call) releases the slot to the next waiter, whose waker panics:
/// the drop catches the panic (the panic hook shows it) once the pool's
/// books are kept — and the `pooled.calls{outcome="cancelled"}` report
/// must be made too; it came after the release, and the panic skipped it
/// (the counter one behind `stats().cancelled` for good).
#[cfg(feature = "metrics")]
#[test]
fn a_waker_panic_on_a_cancelled_call_s_release_loses_no_metrics_report() {
    use pool_runtime::{Pool, Rejected};
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};
    quiet_planned_panics();
    let rec = Capture::default();
    let name = "review::cancel_release_waker_panic";
    let pool = metrics::with_local_recorder(&rec, || {
        Pool::builder().size(1).name(name).build().expect("valid")
    });
    let holder = pool.try_acquire().expect("a free slot");
    let mut first = Task::new(pool.submit(async {}));
    first.assert_pending();
    let mut second = pin!(pool.submit(async {}));
    let panicking = panicking_waker();
    assert!(second
        .as_mut()
        .poll(&mut Context::from_waker(&panicking))
        .is_pending());
    // The slot goes to `first`, which is dropped before it polls again:
    // its release hands the slot to `second`, whose waker panics.
    drop(holder);
    assert!(first.is_woken());
    drop(first);
    let waker = futures::task::noop_waker();
    let out = second.as_mut().poll(&mut Context::from_waker(&waker));
    assert!(
        matches!(out, Poll::Ready(Ok::<(), Rejected>(()))),
        "{out:?}"
    );
    let stats = pool.stats();
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    assert_eq!(
        rec.calls(name, "cancelled", None),
        stats.cancelled,
        "the cancelled call's report"
    );
    assert_eq!(
        rec.calls(name, "completed", None),
        stats.completed - stats.panicked,
        "{stats:?}"
    );
    assert_eq!(rec.gauge("pooled.running", name), Some(0.0));
}
