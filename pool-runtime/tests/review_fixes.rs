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

            let job = rt.spawn(
                NARROW.submit_blocking(0, || pool_runtime::ceiling::stats().unwrap().running),
            );
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while NARROW.stats().waiting == 0 {
                assert!(std::time::Instant::now() < deadline, "never waited");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(ceiling().running, 2, "{:?}", ceiling());
            drop(holder);
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
