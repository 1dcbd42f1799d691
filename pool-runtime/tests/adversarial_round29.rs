//! Hostile tests, round 29 (runtime): configuration files malformed in their
//! structure (tables where values go, values where tables go, arrays of
//! tables, empty keys, byte-order marks, CRLF), the application-wide ceiling
//! across groups with sync callers on plain threads, pause/close and permits,
//! and streams over pools with panicking items, dropped mid-flight.
//! Concurrency is counted from outside the library; every wait is bounded.
#![cfg(feature = "config")]

mod common;
#[cfg(feature = "redis")]
mod redis_server;
use common::{config_turn, within};
use pool_runtime::config::{self, Origin};
use pool_runtime::{register_group, Group, GroupSpec, Kind};
use std::time::Duration;

static R29_FIXED: Group = Group::new(GroupSpec::new("r29::fixed").size(2));
static R29_SCALED: Group = Group::new(
    GroupSpec::new("r29::scaled")
        .kind(Kind::Autoscale)
        .min(1)
        .max(4),
);
register_group!(R29_FIXED);
register_group!(R29_SCALED);

const BOUND: Duration = Duration::from_secs(20);

/// Every malformed file is an error at a line and column inside the file,
/// and changes nothing.
#[test]
fn structurally_malformed_files_are_errors_at_a_position_and_change_nothing() {
    let _serial = config_turn();
    within(BOUND, || {
        let before = (R29_FIXED.settings(), R29_SCALED.settings());
        let cases: &[&str] = &[
            "groups = 5\n",
            "[defaults]\nceiling = 3\n",
            "[groups.\"r29::fixed\"]\nceiling = 3\n",
            "Ceiling = 3\n",
            "CEILING = 3\n",
            "celing = 3\n",
            "defaults = 5\n",
            "defaults = [1, 2]\n",
            "[groups]\n\"r29::fixed\" = 3\n",
            "[[groups]]\nsize = 3\n",
            "[[defaults]]\nsize = 3\n",
            "[groups.\"r29::fixed\"]\nsize = [1]\n",
            "[groups.\"r29::fixed\"]\nsize = { a = 1 }\n",
            "[groups.\"r29::fixed\"]\n\"\" = 1\n",
            "[groups.\"r29::fixed\"]\nsize = 1979-05-27\n",
            "[groups.\"r29::fixed\"]\nkind = 1979-05-27T07:32:00Z\n",
            "[groups.\"r29::fixed\"]\nsize = true\n",
            "[groups.\"r29::fixed\"]\norder = [\"fifo\"]\n",
            "[groups.\"r29::fixed\"]\nadmission_timeout = { none = true }\n",
            "[groups.\"r29::fixed\".nested]\nsize = 3\n",
            "[groups.\"r29::fixed\"]\nsize.inner = 3\n",
            "[defaults.nested]\nsize = 3\n",
            "ceiling = [4]\n",
            "ceiling = { n = 4 }\n",
            "ceiling = true\n",
            "ceiling = \"4\"\n",
            "ceiling = -4\n",
            "ceiling = 0\n",
            "ceiling = nan\n",
            "ceiling = 1e3\n",
            "ceiling.inner = 4\n",
            "[ceiling]\nn = 4\n",
            "ceiling = 4\nceiling = 5\n",
            "[groups.\"r29::fixed\"]\nsize = 3\n[groups.\"r29::fixed\"]\nsize = 4\n",
            "\u{feff}ceiling = 0\n",
            "ceiling = 4\r\n[groups.\"r29::fixed\"]\r\nsize = -1\r\n",
            "ceiling = 4\n[groups.\"r29::fixed\"]\nsize =",
            "ceiling = 4\n[groups.\"r29::fixed\"\n",
            "ceiling = 4\n[groups.\"r29::fixed\"]\nsize = 3 # ok\nkind = 'autoscale\n",
            "[groups.\"r29::fixed\"]\nsize = \"\"\"\n3\"\"\"\n",
            "[groups.'r29::fixed']\nSize = 3\n",
            "[groups.\"r29::fixed\"]\nfleet_limit = 3\n",
            "[groups.\"r29::fixed\"]\nmin = 1\n",
            "[defaults]\nmin = 5\n[groups.\"r29::scaled\"]\nmax = 2\n",
            "[groups.\"r29::scaled\"]\nmin = 5\n",
            "[groups.\"r29::scaled\"]\nkind = \"fixed\"\nsize = 0\n",
            "[groups.\"r29::scaled\"]\nautoscale_window = 0\n",
            "[groups.\"r29::scaled\"]\nautoscale_window = 99999999999\n",
            "[groups.\"r29::scaled\"]\nadaptive_tolerance = 2.0\n",
            "[defaults]\nadaptive_tolerance = 0.5\n",
            "[defaults]\nfleet_lease = \"1ms\"\n",
            "[groups.\"r29::fixed\"]\nsync_barging = \"-0s\"\n",
            "[groups.\"r29::fixed\"]\nexecutor = \"Rayon\"\n",
            "[groups.\"r29::scaled\"]\npolicy = \"adaptive\"\nadaptive_window_samples = 0\n",
            "[groups.\"r29::scaled\"]\npolicy = \"adaptive\"\nadaptive_smoothing = 1.0000001\n",
            "[groups.\"r29::scaled\"]\npolicy = \"adaptive\"\nadaptive_tolerance = 1.8e308\n",
        ];
        let mut failures = Vec::new();
        for text in cases {
            let lines = text.split('\n').count();
            match config::load_str("r29.toml", text) {
                Ok(report) => failures.push(format!("{text:?}: accepted ({report:?})")),
                Err(e) => {
                    eprintln!("{text:?} -> {e}");
                    match e.origin() {
                        Some(Origin::File { path, line, column }) => {
                            if path != "r29.toml" || *line == 0 || *line > lines || *column == 0 {
                                failures.push(format!("{text:?}: bad position: {e}"));
                            }
                            if !e
                                .to_string()
                                .starts_with(&format!("r29.toml:{line}:{column}"))
                            {
                                failures.push(format!("{text:?}: display: {e}"));
                            }
                        }
                        other => {
                            failures.push(format!("{text:?}: no file position ({other:?}): {e}"))
                        }
                    }
                }
            }
            assert_eq!(
                (R29_FIXED.settings(), R29_SCALED.settings()),
                before,
                "{text:?} changed the settings"
            );
            assert_eq!(
                pool_runtime::ceiling::limit(),
                None,
                "{text:?} set a ceiling"
            );
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

/// A file saved with a UTF-8 byte-order mark (as some Windows editors do):
/// the mark is no column of the text an editor shows, so an error on the
/// first line names the column the editor shows.
#[test]
fn a_byte_order_mark_does_not_shift_the_reported_column() {
    let _serial = config_turn();
    let e = config::load_str("r29.toml", "\u{feff}ceiling = 0\n").unwrap_err();
    assert_eq!(
        e.origin().cloned(),
        Some(Origin::File {
            path: "r29.toml".into(),
            line: 1,
            column: 11,
        }),
        "{e}"
    );
    // The same file without the mark, for comparison.
    let e = config::load_str("r29.toml", "ceiling = 0\n").unwrap_err();
    assert!(e.to_string().starts_with("r29.toml:1:11:"), "{e}");
}

// ---------------------------------------------------------------------------
// Streams over groups under the application-wide ceiling.

#[cfg(feature = "stream")]
mod streams {
    use super::common::{self, within, Meter};
    use futures::{FutureExt, StreamExt};
    use pool_runtime::config;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec, PooledStreamExt, Rejected};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::Duration;

    static S_A: Group = Group::new(GroupSpec::new("r29::stream_a").size(1));
    static S_B: Group = Group::new(GroupSpec::new("r29::stream_b").size(2));
    static S_P: Group = Group::new(GroupSpec::new("r29::stream_p").size(3));
    register_group!(S_A);
    register_group!(S_B);
    register_group!(S_P);

    fn quiet(group: &Group) {
        let s = group.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        common::assert_accounted(&s);
    }

    fn ceiling_quiet() {
        let s = ceiling::stats().expect("a ceiling is set");
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        common::assert_accounted(&s);
    }

    /// Streams run inside a group call's work (their items are calls nested
    /// in it: of its own group, and of another under its ceiling slot), at a
    /// ceiling of one, while a top-level call of the other group waits for
    /// the ceiling: one body at a time in all, every item done, nothing left
    /// waiting.
    #[test]
    fn streams_nested_in_a_group_call_under_a_ceiling_of_one_run_one_at_a_time() {
        common::in_own_process(
            "streams::streams_nested_in_a_group_call_under_a_ceiling_of_one_run_one_at_a_time",
            &[],
            || {
                config::load_str("r29.toml", "ceiling = 1\n").expect("a valid file");
                let out = within(Duration::from_secs(20), || {
                    let rt = common::runtime();
                    rt.block_on(async {
                        let meter = Meter::default();
                        let parent = {
                            let meter = meter.clone();
                            S_A.submit(0, async move {
                                let own: Vec<_> = futures::stream::iter(0..6)
                                    .map(|i| meter.clone().body(2).map(move |()| i))
                                    .pooled_unordered(&S_A)
                                    .collect()
                                    .await;
                                let other: Vec<_> = futures::stream::iter(0..6)
                                    .map(|i| meter.clone().body(2).map(move |()| i))
                                    .pooled_ordered(&S_B)
                                    .collect()
                                    .await;
                                (own, other)
                            })
                        };
                        let outside = {
                            let meter = meter.clone();
                            tokio::spawn(async move { S_B.submit(0, meter.body(5)).await })
                        };
                        let (own, other) = parent.await.expect("admitted");
                        outside.await.unwrap().expect("admitted");
                        (own, other, meter.max(), meter.done())
                    })
                });
                let (own, other, max, done) = out;
                let mut own: Vec<_> = own.into_iter().map(Result::unwrap).collect();
                own.sort();
                assert_eq!(own, (0..6).collect::<Vec<_>>());
                assert_eq!(
                    other.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
                    (0..6).collect::<Vec<_>>()
                );
                assert_eq!(done, 13);
                assert_eq!(max, 1, "the ceiling of one held across both groups");
                quiet(&S_A);
                quiet(&S_B);
                ceiling_quiet();
            },
        );
    }

    /// A stream over a group under a ceiling of two: one item panics (the
    /// consumer catches it and goes on), then the adapter is dropped with
    /// calls running and waiting (for the group and for the ceiling). Every
    /// slot comes back, each call is counted once, and a later call of the
    /// group gets through.
    #[test]
    fn a_stream_with_a_panicking_item_dropped_mid_flight_gives_every_ceiling_slot_back() {
        common::in_own_process(
            "streams::a_stream_with_a_panicking_item_dropped_mid_flight_gives_every_ceiling_slot_back",
            &[],
            || {
                common::quiet_planned_panics();
                config::load_str("r29.toml", "ceiling = 2\n").expect("a valid file");
                let meter = Meter::default();
                let m = meter.clone();
                let (yielded, panics) = within(Duration::from_secs(20), move || {
                    let rt = common::runtime();
                    rt.block_on(async move {
                        let release = Arc::new(AtomicBool::new(false));
                        let items = (0..12u32).map(|i| {
                            let meter = m.clone();
                            let release = release.clone();
                            async move {
                                let _inside = meter.enter();
                                if i == 1 {
                                    panic!("planned: item 1 panics");
                                }
                                if i >= 3 {
                                    // Held until the adapter is dropped.
                                    while !release.load(SeqCst) {
                                        tokio::time::sleep(Duration::from_millis(1)).await;
                                    }
                                }
                                i
                            }
                        });
                        let mut stream =
                            Box::pin(futures::stream::iter(items).pooled_ordered(&S_P));
                        let mut yielded = Vec::new();
                        let mut panics = 0;
                        while yielded.len() < 2 {
                            match std::panic::AssertUnwindSafe(stream.next())
                                .catch_unwind()
                                .await
                            {
                                Ok(Some(out)) => yielded.push(out),
                                Ok(None) => break,
                                Err(_) => panics += 1,
                            }
                        }
                        // Let the held items reach their bodies (the ceiling's
                        // two slots taken), then drop the adapter.
                        for _ in 0..50 {
                            if futures::poll!(stream.next()).is_ready() {
                                panic!("nothing more can finish");
                            }
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                        drop(stream);
                        release.store(true, SeqCst);
                        let later = S_P.submit(0, async { 7 }).await;
                        assert_eq!(later, Ok(7));
                        (yielded, panics)
                    })
                });
                assert_eq!(yielded, vec![Ok::<u32, Rejected>(0), Ok(2)], "input order");
                assert_eq!(panics, 1);
                assert!(meter.max() <= 2, "ceiling of two: {}", meter.max());
                assert_eq!(meter.now(), 0);
                quiet(&S_P);
                let s = S_P.stats();
                assert_eq!(s.panicked, 1, "{s:?}");
                ceiling_quiet();
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Permits taken inside a call's work (nested) and returned out of it.

mod permits_out_of_work {
    use super::common::{self, within, Meter};
    use pool_runtime::config;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec, Pool, Rejected};
    use std::time::Duration;

    /// A permit taken in a call's work of a pool of one slot holds the
    /// parent's slot (a nested call); returned out of the work, it keeps the
    /// slot busy until dropped: no other call runs meanwhile, then one does.
    #[test]
    fn a_nested_permit_returned_out_of_its_work_keeps_the_slot_until_dropped() {
        within(Duration::from_secs(20), || {
            let rt = common::runtime();
            rt.block_on(async {
                let pool: &'static Pool = Box::leak(Box::new(Pool::fixed(1)));
                let meter = Meter::default();
                let outer = meter.enter();
                let permit = pool
                    .submit(async { pool.acquire_owned(0).await })
                    .await
                    .expect("admitted")
                    .expect("nested: runs under the parent's slot");
                // The parent's work is over; the permit (counted by hand as
                // a body) still holds the slot.
                assert!(matches!(pool.try_acquire(), Err(Rejected::Full)));
                let other = {
                    let meter = meter.clone();
                    tokio::spawn(async move { pool.submit(meter.body(1)).await })
                };
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    assert_eq!(meter.now(), 1, "only the permit's holder runs");
                }
                let s = pool.stats();
                assert_eq!(s.waiting, 1, "{s:?}");
                drop(outer);
                drop(permit);
                tokio::time::timeout(Duration::from_secs(10), other)
                    .await
                    .expect("runs once the permit is dropped")
                    .unwrap()
                    .unwrap();
                assert_eq!(meter.max(), 1);
                let s = pool.stats();
                assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                common::assert_accounted(&s);
            });
        });
    }

    static P1: Group = Group::new(GroupSpec::new("r29::permit_one").size(2));
    static P2: Group = Group::new(GroupSpec::new("r29::permit_two").size(2));
    register_group!(P1);
    register_group!(P2);

    /// Under a ceiling of one: a permit of another group taken in a group
    /// call's work runs under the call's ceiling slot; returned out of the
    /// work, it keeps that ceiling slot until dropped, so no other group
    /// call runs meanwhile (counted from outside), and one does after.
    #[test]
    fn a_nested_group_permit_returned_out_of_its_work_keeps_the_ceiling_slot() {
        common::in_own_process(
            "permits_out_of_work::a_nested_group_permit_returned_out_of_its_work_keeps_the_ceiling_slot",
            &[],
            || {
                config::load_str("r29.toml", "ceiling = 1\n").expect("a valid file");
                within(Duration::from_secs(20), || {
                    let rt = common::runtime();
                    rt.block_on(async {
                        let meter = Meter::default();
                        let outer = meter.enter();
                        let permit = P1
                            .submit(0, async { P2.acquire_owned(0).await })
                            .await
                            .expect("admitted")
                            .expect("nested under the ceiling slot");
                        let c = ceiling::stats().unwrap();
                        assert!(
                            c.running + c.nested >= 1,
                            "the permit holds the ceiling slot: {c:?}"
                        );
                        assert!(
                            P1.try_acquire_owned(0).is_err(),
                            "the ceiling's one slot is the permit's"
                        );
                        let others: Vec<_> = [&P1, &P2]
                            .into_iter()
                            .map(|g| {
                                let meter = meter.clone();
                                tokio::spawn(async move { g.submit(0, meter.body(1)).await })
                            })
                            .collect();
                        for _ in 0..20 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            assert_eq!(meter.now(), 1, "only the permit's holder runs");
                        }
                        drop(outer);
                        drop(permit);
                        for other in others {
                            tokio::time::timeout(Duration::from_secs(10), other)
                                .await
                                .expect("runs once the permit is dropped")
                                .unwrap()
                                .unwrap();
                        }
                        assert_eq!(meter.max(), 1, "ceiling of one");
                    });
                });
                for g in [&P1, &P2] {
                    let s = g.stats();
                    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                    common::assert_accounted(&s);
                }
                let c = ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
                common::assert_accounted(&c);
            },
        );
    }
    static T1: Group = Group::new(GroupSpec::new("r29::try_one").size(1));
    static T2: Group = Group::new(GroupSpec::new("r29::try_two").size(1));
    register_group!(T1);
    register_group!(T2);

    /// `try_acquire` inside a group call's work under a ceiling of one: of
    /// another group, it runs under the call's ceiling slot (as the waiting
    /// forms do) instead of being turned away by its own parent's slot; of a
    /// group whose one slot is held, it is `Full`, and leaves the ceiling
    /// as it found it. Everything balances.
    #[test]
    fn try_acquire_nested_under_a_ceiling_of_one_uses_the_parents_ceiling_slot() {
        common::in_own_process(
            "permits_out_of_work::try_acquire_nested_under_a_ceiling_of_one_uses_the_parents_ceiling_slot",
            &[],
            || {
                config::load_str("r29.toml", "ceiling = 1\n").expect("a valid file");
                within(Duration::from_secs(20), || {
                    let rt = common::runtime();
                    rt.block_on(async {
                        let (a, b, c) = T1
                            .submit(0, async {
                                let a = T2.try_acquire_owned(0).map(drop);
                                let b = T2.try_acquire(0).map(drop);
                                // T1's own slot is the parent's: nested.
                                let c = T1.try_acquire_owned(0).map(drop);
                                (a, b, c)
                            })
                            .await
                            .expect("admitted");
                        assert_eq!(a, Ok(()), "another group, under the parent's ceiling slot");
                        assert_eq!(b, Ok(()), "another group, under the parent's ceiling slot");
                        assert_eq!(c, Ok(()), "its own group: the parent's slot, nested");
                        // A held slot of T2 makes T2's try Full, nested or not.
                        let held = T2.acquire_owned(0).await.unwrap();
                        let d = T1
                            .try_acquire_owned(0)
                            .map(drop);
                        assert_eq!(d, Err(Rejected::Full), "the ceiling is held");
                        drop(held);
                    });
                });
                for g in [&T1, &T2] {
                    let s = g.stats();
                    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                    common::assert_accounted(&s);
                }
                let c = ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
                common::assert_accounted(&c);
            },
        );
    }
}

// ---------------------------------------------------------------------------
// A constant ceiling while reloads move everything else, groups pause and
// resume, and every call form runs from tasks and plain threads.

mod ceiling_under_churn {
    use super::common::{self, Meter};
    use pool_runtime::config;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec, Kind};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    static C1: Group = Group::new(GroupSpec::new("r29::churn_one").size(2));
    static C2: Group = Group::new(GroupSpec::new("r29::churn_two").size(3));
    static C3: Group = Group::new(
        GroupSpec::new("r29::churn_three")
            .kind(Kind::Autoscale)
            .min(1)
            .max(4),
    );
    register_group!(C1);
    register_group!(C2);
    register_group!(C3);

    const CEILING: usize = 3;

    fn file(round: usize) -> String {
        let waiting = ["\"none\"", "0", "5"][round % 3];
        let timeout = ["\"none\"", "\"5ms\"", "\"200ms\""][(round / 3) % 3];
        format!(
            "ceiling = {CEILING}\n\
             [groups.\"r29::churn_one\"]\nsize = {}\nmax_waiting = {waiting}\n\
             [groups.\"r29::churn_two\"]\nsize = {}\nadmission_timeout = {timeout}\n\
             [groups.\"r29::churn_three\"]\nmin = {}\nmax = {}\n",
            1 + round % 4,
            1 + (round / 2) % 5,
            1 + round % 2,
            2 + round % 3,
        )
    }

    fn group(i: usize) -> &'static Group {
        [&C1, &C2, &C3][i % 3]
    }

    /// Bodies (their own work only, never a wait for a nested call) never
    /// exceed the ceiling, whatever the reloads and pauses do; nothing
    /// hangs; every group and the ceiling balance at the end.
    #[test]
    fn a_constant_ceiling_holds_while_reloads_pauses_and_every_call_form_churn() {
        common::in_own_process(
            "ceiling_under_churn::a_constant_ceiling_holds_while_reloads_pauses_and_every_call_form_churn",
            &[],
            || {
                config::load_str("r29.toml", &file(0)).expect("a valid file");
                let meter = Meter::default();
                let stop = Arc::new(AtomicBool::new(false));
                let calls = Arc::new(AtomicUsize::new(0));
                let mut threads = Vec::new();
                // The reloader and the pauser.
                {
                    let stop = stop.clone();
                    threads.push(std::thread::spawn(move || {
                        let mut round = 0;
                        while !stop.load(SeqCst) {
                            round += 1;
                            config::load_str("r29.toml", &file(round)).expect("a valid file");
                            let g = group(round);
                            if round % 5 == 0 {
                                g.pause();
                                std::thread::sleep(Duration::from_millis(2));
                                g.resume();
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }));
                }
                // Sync callers on plain threads (some nesting into another group).
                for t in 0..3 {
                    let (stop, meter, calls) = (stop.clone(), meter.clone(), calls.clone());
                    threads.push(std::thread::spawn(move || {
                        let mut i = t;
                        while !stop.load(SeqCst) {
                            i += 1;
                            let (g, inner) = (group(i), group(i + 1));
                            let m = meter.clone();
                            let _ = g.run(|| {
                                {
                                    let _in = m.enter();
                                    std::thread::sleep(Duration::from_micros(300));
                                }
                                if i % 2 == 0 {
                                    let _ = inner.run(|| {
                                        let _in = m.enter();
                                        std::thread::sleep(Duration::from_micros(200));
                                    });
                                }
                            });
                            calls.fetch_add(1, SeqCst);
                        }
                    }));
                }
                let rt = common::runtime();
                let tasks: Vec<_> = (0..4)
                    .map(|t| {
                        let (stop, meter, calls) = (stop.clone(), meter.clone(), calls.clone());
                        rt.spawn(async move {
                            let mut i = t;
                            while !stop.load(SeqCst) {
                                i += 1;
                                let (g, inner) = (group(i), group(i + 2));
                                let m = meter.clone();
                                match i % 4 {
                                    0 => {
                                        let _ = g
                                            .submit(0, async move {
                                                m.clone().body(1).await;
                                                let _ = inner.submit(0, m.body(1)).await;
                                            })
                                            .await;
                                    }
                                    1 => {
                                        let _ = g
                                            .submit_blocking(0, move || {
                                                let _in = m.enter();
                                                std::thread::sleep(Duration::from_micros(500));
                                            })
                                            .await;
                                    }
                                    2 => {
                                        if let Ok(permit) = g.acquire_owned(0).await {
                                            {
                                                let _in = m.enter();
                                                tokio::time::sleep(Duration::from_millis(1)).await;
                                            }
                                            drop(permit);
                                        }
                                    }
                                    _ => {
                                        let _ = g.submit_wait(0, m.body(1)).await;
                                    }
                                }
                                calls.fetch_add(1, SeqCst);
                            }
                        })
                    })
                    .collect();
                let started = Instant::now();
                while started.elapsed() < Duration::from_millis(1200) {
                    std::thread::sleep(Duration::from_millis(10));
                    assert!(meter.max() <= CEILING, "ceiling {CEILING}, saw {}", meter.max());
                }
                stop.store(true, SeqCst);
                // Anything paused resumes, so nothing waits for good.
                for i in 0..3 {
                    group(i).resume();
                }
                let deadline = Instant::now() + Duration::from_secs(20);
                rt.block_on(async {
                    for t in tasks {
                        tokio::time::timeout(Duration::from_secs(20), t)
                            .await
                            .expect("a task hung")
                            .unwrap();
                    }
                });
                for t in threads {
                    while !t.is_finished() {
                        assert!(Instant::now() < deadline, "a thread hung");
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    t.join().unwrap();
                }
                eprintln!("{} calls, most at once {}", calls.load(SeqCst), meter.max());
                assert!(calls.load(SeqCst) > 50, "the churn made progress");
                assert!(meter.max() <= CEILING, "ceiling {CEILING}, saw {}", meter.max());
                assert_eq!(meter.now(), 0);
                for i in 0..3 {
                    let s = group(i).stats();
                    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                    common::assert_accounted(&s);
                }
                let c = ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
                common::assert_accounted(&c);
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Never-rejecting calls of a fleet group whose policy is `reject`, with
// Redis gone, and with Redis killed under a holder.

#[cfg(feature = "redis")]
mod fleet_never_rejecting {
    use super::common::{self, Meter};
    use super::redis_server::*;
    use pool_runtime::fleet::OnUnreachable;
    use pool_runtime::Rejected;
    use std::time::{Duration, Instant};

    /// Under `fleet_unreachable = "reject"`, calls that cannot be turned
    /// away (`submit_wait`, `run_wait`, `submit_blocking_wait`) wait out an
    /// unreachable Redis (no panic), while rejecting ones are turned away;
    /// once Redis is back the waiting ones run, within the fleet limit, and
    /// everything balances.
    #[test]
    fn never_rejecting_calls_under_the_reject_policy_wait_out_a_dead_redis() {
        common::quiet_planned_panics();
        let mut server = RedisServer::start();
        let g = fleet_group("r29_never_reject", &server, 1, OnUnreachable::Reject);
        let meter = Meter::default();
        let rt = common::runtime();
        rt.block_on(async {
            assert_eq!(g.submit(0, async { 1 }).await, Ok(1));
        });
        server.stop();
        let t0 = Instant::now();
        let rejected = rt.block_on(g.submit(0, async { 1 }));
        assert_eq!(rejected, Err(Rejected::FleetUnavailable));
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        let a = {
            let m = meter.clone();
            rt.spawn(async move { g.submit_wait(0, m.body(5)).await })
        };
        let b = {
            let m = meter.clone();
            std::thread::spawn(move || {
                g.run_wait(0, move || {
                    let _in = m.enter();
                    std::thread::sleep(Duration::from_millis(5));
                })
            })
        };
        let c = {
            let m = meter.clone();
            rt.spawn(async move {
                g.submit_blocking_wait(0, move || {
                    let _in = m.enter();
                    std::thread::sleep(Duration::from_millis(5));
                })
                .await
            })
        };
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            !a.is_finished() && !b.is_finished() && !c.is_finished(),
            "they wait"
        );
        assert_eq!(meter.done(), 0, "nothing ran without a lease");
        server.restart();
        let t0 = Instant::now();
        while !(a.is_finished() && b.is_finished() && c.is_finished()) {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "never ran after Redis came back"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        rt.block_on(async {
            a.await.expect("no panic");
            c.await.expect("no panic");
        });
        b.join().expect("no panic");
        assert_eq!(meter.done(), 3);
        assert_eq!(meter.max(), 1, "fleet limit of one");
        let s = g.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        common::assert_accounted(&s);
        let fs = g.fleet_stats().unwrap();
        assert_eq!((fs.held, fs.waiting), (0, 0), "{fs:?}");
    }

    /// Redis killed under a never-rejecting holder under `reject`: it runs
    /// on (its lease lost), no panic; every form ends and balances once
    /// Redis is back.
    #[test]
    fn a_never_rejecting_holder_runs_on_when_redis_dies_under_it() {
        let mut server = RedisServer::start();
        let g = fleet_group("r29_holder_dies", &server, 1, OnUnreachable::Reject);
        let rt = common::runtime();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let holder = rt.spawn(async move {
            g.submit_wait(0, async move {
                let _ = rx.await;
                9
            })
            .await
        });
        let t0 = Instant::now();
        while g.fleet_stats().unwrap().held == 0 {
            assert!(t0.elapsed() < Duration::from_secs(10), "no lease");
            std::thread::sleep(Duration::from_millis(5));
        }
        server.stop();
        std::thread::sleep(Duration::from_millis(1500)); // past the 1 s lease
        tx.send(()).unwrap();
        let out =
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), holder).await });
        assert_eq!(out.expect("no hang").expect("no panic"), 9);
        server.restart();
        rt.block_on(async {
            assert_eq!(
                tokio::time::timeout(Duration::from_secs(10), g.submit_wait(0, async { 3 })).await,
                Ok(3)
            );
        });
        let s = g.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        common::assert_accounted(&s);
        let t0 = Instant::now();
        while g.fleet_stats().unwrap().held != 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{:?}",
                g.fleet_stats()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

// ---------------------------------------------------------------------------
// `config::watch` over a file rewritten in place (truncated, then written
// in two pieces) faster than it settles.

mod watch_rewrites {
    use super::common::{self, within};
    use pool_runtime::config;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec};
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    static W: Group = Group::new(GroupSpec::new("r29::watched").size(1));
    register_group!(W);

    fn content(size: usize) -> String {
        format!("ceiling = 4\n\n[groups.\"r29::watched\"]\nsize = {size}\nmax_waiting = 10\n")
    }

    /// A file saved again and again, each save truncating it (empty for most
    /// of each 20 ms cycle, its full content for the rest): its content never
    /// holds still for 20 ms, so the empty file must never be loaded (it
    /// would lift the ceiling and every group setting). Two reads 20 ms apart
    /// that both find it empty are not a content that held still.
    #[test]
    fn a_file_truncated_by_every_save_is_never_loaded_empty() {
        common::in_own_process(
            "watch_rewrites::a_file_truncated_by_every_save_is_never_loaded_empty",
            &[],
            || {
                let path = std::env::temp_dir()
                    .join(format!("pooled-r29-truncated-{}.toml", std::process::id()));
                std::fs::write(&path, content(2)).unwrap();
                let watch = config::watch(&path, Duration::from_millis(30), |_| {})
                    .expect("the first load");
                assert_eq!(ceiling::limit(), Some(4));
                // The writer measures how long each save left the file
                // empty (from before the truncation to after the write).
                // A lift after a gap of `SETTLE` (20 ms) or more is
                // legitimate (the writer was descheduled and the empty file
                // did hold still): that attempt proves nothing and runs
                // again. A lift when every gap was shorter fails.
                let mut verdicts = Vec::new();
                for _attempt in 0..5 {
                    let (lifted, longest_gap) = within(Duration::from_secs(20), {
                        let path = path.clone();
                        move || {
                            let t0 = std::time::Instant::now();
                            let mut lifted = None;
                            let mut longest_gap = Duration::ZERO;
                            while t0.elapsed() < Duration::from_millis(1500) && lifted.is_none() {
                                let emptied = std::time::Instant::now();
                                let mut file = std::fs::File::create(&path).unwrap(); // truncated
                                std::thread::sleep(Duration::from_millis(12));
                                file.write_all(content(2).as_bytes()).unwrap();
                                file.flush().unwrap();
                                longest_gap = longest_gap.max(emptied.elapsed());
                                drop(file);
                                std::thread::sleep(Duration::from_millis(8));
                                if ceiling::limit().is_none() {
                                    lifted = Some(t0.elapsed());
                                }
                            }
                            (lifted, longest_gap)
                        }
                    });
                    std::fs::write(&path, content(2)).unwrap();
                    verdicts.push((lifted, longest_gap));
                    if lifted.is_none() || longest_gap < Duration::from_millis(20) {
                        break;
                    }
                    // Let the watch load the full content again.
                    let t0 = std::time::Instant::now();
                    while ceiling::limit().is_none() && t0.elapsed() < Duration::from_secs(10) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                drop(watch);
                let _ = std::fs::remove_file(&path);
                let (lifted, longest_gap) = *verdicts.last().unwrap();
                assert!(
                    lifted.is_none() || longest_gap >= Duration::from_millis(20),
                    "an empty file that never held still (longest gap {longest_gap:?}) was \
                     loaded: the ceiling was lifted at {lifted:?}; attempts: {verdicts:?}"
                );
                assert!(
                    lifted.is_none(),
                    "every attempt was inconclusive (the writer was descheduled for 20 ms \
                     or more each time): {verdicts:?}"
                );
            },
        );
    }

    /// Saves that truncate the file and write it again in two pieces, each
    /// gap far shorter than the 20 ms the content must hold still: no
    /// truncated or half-written content is ever loaded (the ceiling is
    /// never lifted, the group never falls back to its declared size), no
    /// error is reported, and the last content is in force at the end.
    #[test]
    fn saves_caught_mid_write_are_never_loaded() {
        common::in_own_process(
            "watch_rewrites::saves_caught_mid_write_are_never_loaded",
            &[],
            || {
                let path = std::env::temp_dir()
                    .join(format!("pooled-r29-watch-{}.toml", std::process::id()));
                std::fs::write(&path, content(2)).unwrap();
                let outcomes = Arc::new(Mutex::new(Vec::new()));
                let watch = {
                    let outcomes = outcomes.clone();
                    config::watch(&path, Duration::from_millis(40), move |outcome| {
                        outcomes
                            .lock()
                            .unwrap()
                            .push(outcome.map(|r| r.to_string()).map_err(|e| e.to_string()));
                    })
                    .expect("the first load")
                };
                assert_eq!(W.size(), 2);
                let stop = Arc::new(AtomicBool::new(false));
                let sampler = {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        let mut bad = Vec::new();
                        while !stop.load(SeqCst) {
                            let (limit, size) = (ceiling::limit(), W.settings().size);
                            if limit != Some(4) || !matches!(size, Some(2) | Some(3)) {
                                bad.push((limit, size));
                            }
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        bad
                    })
                };
                let (last, slowest) = within(Duration::from_secs(20), {
                    let path = path.clone();
                    move || {
                        let mut last = 2;
                        let mut slowest = Duration::ZERO;
                        for round in 0..16 {
                            let size = 2 + round % 2;
                            let text = content(size);
                            let (head, tail) = text.split_at(text.len() / 2);
                            let started = std::time::Instant::now();
                            let mut file = std::fs::File::create(&path).unwrap(); // truncated
                            std::thread::sleep(Duration::from_millis(1));
                            file.write_all(head.as_bytes()).unwrap();
                            file.flush().unwrap();
                            std::thread::sleep(Duration::from_millis(1));
                            file.write_all(tail.as_bytes()).unwrap();
                            file.flush().unwrap();
                            drop(file);
                            slowest = slowest.max(started.elapsed());
                            last = size;
                            std::thread::sleep(Duration::from_millis(if round % 3 == 0 {
                                70
                            } else {
                                45
                            }));
                        }
                        (last, slowest)
                    }
                });
                // The last content holds still: it is loaded.
                let t0 = std::time::Instant::now();
                while W.settings().size != Some(last) {
                    assert!(
                        t0.elapsed() < Duration::from_secs(10),
                        "the last save was never loaded"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                stop.store(true, SeqCst);
                let bad = sampler.join().unwrap();
                drop(watch);
                let _ = std::fs::remove_file(&path);
                let errors: Vec<_> = outcomes
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|o| o.as_ref().err().cloned())
                    .collect();
                // A save that took longer than the 20 ms a content must hold
                // still (a machine too loaded to write it in time) may be
                // loaded half-written, as documented: nothing to check then.
                if slowest >= Duration::from_millis(15) {
                    eprintln!("a save took {slowest:?}: the mid-save checks are skipped");
                    assert_eq!(W.size(), last);
                    return;
                }
                assert!(
                    errors.is_empty(),
                    "a half-written save was loaded: {errors:?}"
                );
                assert!(
                    bad.is_empty(),
                    "a truncated or half-written save was in force: {:?}",
                    &bad[..bad.len().min(5)]
                );
                assert_eq!(W.size(), last);
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Calls waiting for the ceiling when their group is paused, closed or
// aborted: each form ends (turned away, or run), nothing hangs, the ceiling
// slot it got is given back, and everything balances.

mod waiting_for_the_ceiling {
    use super::common::{self, wait_for, within, Meter};
    use pool_runtime::config;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec, Rejected};
    use std::time::Duration;

    static HOLD: Group = Group::new(GroupSpec::new("r29::ceil_hold").size(1));
    static PAUSED: Group = Group::new(GroupSpec::new("r29::ceil_paused").size(2));
    static CLOSED: Group = Group::new(GroupSpec::new("r29::ceil_closed").size(2));
    static ABORTED: Group = Group::new(GroupSpec::new("r29::ceil_aborted").size(2));
    register_group!(HOLD);
    register_group!(PAUSED);
    register_group!(CLOSED);
    register_group!(ABORTED);

    #[test]
    fn calls_waiting_for_the_ceiling_when_their_group_is_paused_closed_or_aborted_end() {
        common::in_own_process(
            "waiting_for_the_ceiling::calls_waiting_for_the_ceiling_when_their_group_is_paused_closed_or_aborted_end",
            &[],
            || {
                config::load_str("r29.toml", "ceiling = 1\n").expect("a valid file");
                let meter = Meter::default();
                let outcomes = within(Duration::from_secs(30), {
                    let meter = meter.clone();
                    move || {
                        let rt = common::runtime();
                        let holder = rt.block_on(HOLD.acquire_owned(0)).unwrap();
                        let mut tasks = Vec::new();
                        let mut threads = Vec::new();
                        for g in [&PAUSED, &CLOSED, &ABORTED] {
                            let m = meter.clone();
                            tasks.push(rt.spawn(async move {
                                g.submit(0, m.body(1)).await.map(drop)
                            }));
                            let m = meter.clone();
                            tasks.push(rt.spawn(async move {
                                g.submit_blocking(0, move || drop(m.enter())).await
                            }));
                            let m = meter.clone();
                            tasks.push(rt.spawn(async move {
                                let p = g.acquire_owned(0).await?;
                                drop(m.enter());
                                drop(p);
                                Ok(())
                            }));
                            let m = meter.clone();
                            threads.push(std::thread::spawn(move || g.run(move || drop(m.enter()))));
                        }
                        wait_for("12 calls waiting for the ceiling", || {
                            ceiling::stats().unwrap().waiting == 12
                        });
                        PAUSED.pause();
                        CLOSED.pool().close();
                        ABORTED.pool().abort();
                        drop(holder);
                        let mut outcomes = Vec::new();
                        rt.block_on(async {
                            for t in tasks {
                                outcomes.push(
                                    tokio::time::timeout(Duration::from_secs(10), t)
                                        .await
                                        .expect("a call hung")
                                        .unwrap(),
                                );
                            }
                        });
                        for t in threads {
                            outcomes.push(t.join().unwrap());
                        }
                        outcomes
                    }
                });
                eprintln!("{outcomes:?}");
                for o in &outcomes {
                    assert!(
                        matches!(o, Ok(()) | Err(Rejected::Paused) | Err(Rejected::Closed)),
                        "{outcomes:?}"
                    );
                }
                assert!(meter.max() <= 1, "ceiling of one: {}", meter.max());
                for g in [&HOLD, &PAUSED, &CLOSED, &ABORTED] {
                    let s = g.stats();
                    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                    common::assert_accounted(&s);
                }
                let c = ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
                common::assert_accounted(&c);
                // The ceiling still admits.
                PAUSED.resume();
                assert_eq!(PAUSED.run(|| 3), Ok(3));
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Sync group calls waiting for the ceiling on the only worker of a
// multi-thread runtime, whose holder is a task of that worker.

mod sync_on_the_only_worker {
    use super::common::{self, within, Meter};
    use pool_runtime::config;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec};
    use std::time::Duration;

    static HOLDER: Group = Group::new(GroupSpec::new("r29::worker_holder").size(1));
    static PLAIN: Group = Group::new(GroupSpec::new("r29::worker_plain").size(1));
    static PATIENT: Group = Group::new(GroupSpec::new("r29::worker_patient").size(1));
    register_group!(HOLDER);
    register_group!(PLAIN);
    register_group!(PATIENT);

    /// Every sync form (rejecting, rejecting with a patience bound, never
    /// rejecting) waits for the ceiling without starving the holder, a task
    /// of the same single worker; one body at a time; all balances.
    #[test]
    fn sync_calls_waiting_for_the_ceiling_on_the_only_worker_let_its_holder_run() {
        common::in_own_process(
            "sync_on_the_only_worker::sync_calls_waiting_for_the_ceiling_on_the_only_worker_let_its_holder_run",
            &[],
            || {
                config::load_str(
                    "r29.toml",
                    "ceiling = 1\n[groups.\"r29::worker_patient\"]\nadmission_timeout = \"10s\"\n",
                )
                .expect("a valid file");
                let meter = Meter::default();
                let m = meter.clone();
                let out = within(Duration::from_secs(20), move || {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
                        let holder = {
                            let m = m.clone();
                            tokio::spawn(async move {
                                HOLDER
                                    .submit(0, async move {
                                        let _in = m.enter();
                                        let _ = started_tx.send(());
                                        // Needs the worker to wake up.
                                        for _ in 0..10 {
                                            tokio::time::sleep(Duration::from_millis(2)).await;
                                            tokio::task::yield_now().await;
                                        }
                                    })
                                    .await
                            })
                        };
                        started_rx.await.unwrap();
                        let sync = {
                            let m = m.clone();
                            tokio::spawn(async move {
                                let a = PLAIN.run(|| drop(m.enter()));
                                let b = PATIENT.run(|| drop(m.enter()));
                                PLAIN.run_wait(0, || drop(m.enter()));
                                (a, b)
                            })
                        };
                        let h = holder.await.unwrap();
                        let s = sync.await.unwrap();
                        (h, s)
                    })
                });
                assert_eq!(out, (Ok(()), (Ok(()), Ok(()))));
                assert_eq!(meter.max(), 1);
                assert_eq!(meter.done(), 4);
                for g in [&HOLDER, &PLAIN, &PATIENT] {
                    let s = g.stats();
                    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                    common::assert_accounted(&s);
                }
                let c = ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
            },
        );
    }
}

/// Errors that arise from two layers together (a file and the environment)
/// still name a place: a line and column of the file, or a variable; and
/// change nothing.
#[test]
fn errors_combining_the_file_and_the_environment_name_a_place() {
    let _serial = config_turn();
    within(BOUND, || {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "[groups.\"r29::scaled\"]\nmin = 3\n",
                &[("POOLED_R29__SCALED_MAX", "2")],
            ),
            (
                "[groups.\"r29::scaled\"]\nkind = \"fixed\"\n",
                &[("POOLED_R29__SCALED_MIN", "1")],
            ),
            (
                "[groups.\"r29::fixed\"]\nsize = 3\n",
                &[("POOLED_R29__FIXED_ADAPTIVE_TOLERANCE", "2")],
            ),
            ("[defaults]\nmin = 9\n", &[("POOLED_R29__SCALED_MAX", "3")]),
            (
                "[groups.\"r29::fixed\"]\nkind = \"autoscale\"\nmax = 2\n",
                &[("POOLED_R29__FIXED_MIN", "4")],
            ),
        ];
        let mut failures = Vec::new();
        for (file, env) in cases {
            config::clear();
            let before = (R29_FIXED.settings(), R29_SCALED.settings());
            // Either order: the file first, then the environment, or the
            // environment first, then the file.
            let first = config::load_str("r29.toml", file);
            let second = config::load_env_from(common::vars(env));
            let e = match (first, second) {
                (Err(e), _) | (Ok(_), Err(e)) => e,
                (Ok(_), Ok(_)) => {
                    failures.push(format!("{file:?} + {env:?}: accepted"));
                    continue;
                }
            };
            eprintln!("{file:?} + {env:?} -> {e}");
            match e.origin() {
                Some(Origin::File { line, column, .. }) if *line > 0 && *column > 0 => {}
                Some(Origin::Env { var }) if env.iter().any(|(k, _)| k == var) => {}
                other => failures.push(format!("{file:?} + {env:?}: no place ({other:?}): {e}")),
            }
            config::clear();
            let env_first = config::load_env_from(common::vars(env));
            let file_second = env_first.and_then(|_| config::load_str("r29.toml", file));
            if let Err(e) = file_second {
                match e.origin() {
                    Some(Origin::File { line, column, .. }) if *line > 0 && *column > 0 => {}
                    Some(Origin::Env { var }) if env.iter().any(|(k, _)| k == var) => {}
                    other => failures.push(format!("env then {file:?}: no place ({other:?}): {e}")),
                }
            } else {
                failures.push(format!("env {env:?} then {file:?}: accepted"));
            }
            config::clear();
            assert_eq!((R29_FIXED.settings(), R29_SCALED.settings()), before);
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

// ---------------------------------------------------------------------------
// Live reloads resizing a fixed group and an autoscaled one's bounds while
// calls of every form run: once the running count is within a new limit,
// the bodies stay within it until the next reload.

mod reload_phases {
    use super::common::{self, within};
    use pool_runtime::config;
    use pool_runtime::{register_group, Group, GroupSpec};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    static RP: Group = Group::new(GroupSpec::new("r29::phases").size(2));
    register_group!(RP);

    #[derive(Default)]
    struct PhaseMeter {
        now: AtomicUsize,
        max: AtomicUsize,
    }

    struct In<'a>(&'a PhaseMeter);

    impl PhaseMeter {
        fn enter(&self) -> In<'_> {
            let now = self.now.fetch_add(1, SeqCst) + 1;
            self.max.fetch_max(now, SeqCst);
            In(self)
        }
    }

    impl Drop for In<'_> {
        fn drop(&mut self) {
            self.0.now.fetch_sub(1, SeqCst);
        }
    }

    #[test]
    fn after_a_reload_shrinks_a_group_its_bodies_stay_within_the_new_size() {
        common::in_own_process(
            "reload_phases::after_a_reload_shrinks_a_group_its_bodies_stay_within_the_new_size",
            &[],
            || {
                let meter: &'static PhaseMeter = Box::leak(Box::default());
                let stop = Arc::new(AtomicBool::new(false));
                let rt = common::runtime();
                let tasks: Vec<_> = (0..5)
                    .map(|i| {
                        let stop = stop.clone();
                        rt.spawn(async move {
                            let mut n = 0usize;
                            while !stop.load(SeqCst) {
                                n += 1;
                                if (i + n) % 3 == 0 {
                                    let _ = RP
                                        .submit_blocking(0, move || {
                                            let _in = meter.enter();
                                            std::thread::sleep(Duration::from_micros(400));
                                        })
                                        .await;
                                } else {
                                    let _ = RP
                                        .submit(0, async move {
                                            let _in = meter.enter();
                                            tokio::time::sleep(Duration::from_millis(1)).await;
                                        })
                                        .await;
                                }
                            }
                        })
                    })
                    .collect();
                let threads: Vec<_> = (0..2)
                    .map(|_| {
                        let stop = stop.clone();
                        std::thread::spawn(move || {
                            while !stop.load(SeqCst) {
                                let _ = RP.run(|| {
                                    let _in = meter.enter();
                                    std::thread::sleep(Duration::from_micros(300));
                                });
                            }
                        })
                    })
                    .collect();
                let violations = within(Duration::from_secs(30), move || {
                    let mut violations = Vec::new();
                    for (phase, size) in [3usize, 1, 4, 2, 1, 5, 1, 2].into_iter().enumerate() {
                        config::load_str(
                            "r29.toml",
                            &format!("[groups.\"r29::phases\"]\nsize = {size}\n"),
                        )
                        .expect("a valid file");
                        // Wait until the pool runs within the new size.
                        let t0 = Instant::now();
                        loop {
                            let s = RP.stats();
                            if s.running + s.nested <= size {
                                break;
                            }
                            assert!(
                                t0.elapsed() < Duration::from_secs(10),
                                "never shrank: {s:?}"
                            );
                            std::thread::yield_now();
                        }
                        meter.max.store(meter.now.load(SeqCst), SeqCst);
                        std::thread::sleep(Duration::from_millis(120));
                        let max = meter.max.load(SeqCst);
                        if max > size {
                            violations.push((phase, size, max));
                        }
                    }
                    violations
                });
                stop.store(true, SeqCst);
                rt.block_on(async {
                    for t in tasks {
                        tokio::time::timeout(Duration::from_secs(10), t)
                            .await
                            .expect("a task hung")
                            .unwrap();
                    }
                });
                for t in threads {
                    t.join().unwrap();
                }
                assert!(
                    violations.is_empty(),
                    "(phase, size, most at once): {violations:?}"
                );
                let s = RP.stats();
                assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                common::assert_accounted(&s);
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Two clients of one fleet (two groups with one name, as two processes
// would be) and a local group, under an application-wide ceiling.

#[cfg(feature = "redis")]
mod fleet_under_the_ceiling {
    use super::common::{self, Meter};
    use super::redis_server::*;
    use pool_runtime::fleet::OnUnreachable;
    use pool_runtime::{ceiling, config, Group, GroupSpec, Rejected};
    use std::time::{Duration, Instant};

    #[test]
    fn two_fleet_clients_and_a_local_group_keep_both_limits_under_a_ceiling() {
        common::in_own_process(
            "fleet_under_the_ceiling::two_fleet_clients_and_a_local_group_keep_both_limits_under_a_ceiling",
            &[],
            || {
                let server = RedisServer::start();
                let a = fleet_group("r29_fleet_ceil", &server, 1, OnUnreachable::Wait);
                let b = fleet_group("r29_fleet_ceil", &server, 1, OnUnreachable::Wait);
                let local: &'static Group =
                    Box::leak(Box::new(Group::new(GroupSpec::new("r29::fleet_local").size(4))));
                // Start the groups (their first use), then set the ceiling.
                assert!(a.pool().size() > 0 && b.pool().size() > 0 && local.pool().size() > 0);
                config::load_str("r29.toml", "ceiling = 2\n").expect("a valid file");
                let fleet_meter = Meter::default();
                let all = Meter::default();
                let rt = common::runtime();
                rt.block_on(async {
                    // try_acquire while the lease is busy: Full, and every slot
                    // it took is given back.
                    let held = a.acquire_owned(0).await.unwrap();
                    let busy = b.try_acquire_owned(0).map(drop);
                    assert!(busy.is_err(), "the fleet's one lease is held");
                    let c = ceiling::stats().unwrap();
                    assert_eq!(c.running, 1, "only the holder's ceiling slot: {c:?}");
                    assert_eq!(b.stats().running, 0, "{:?}", b.stats());
                    drop(held);

                    let mut tasks = Vec::new();
                    for i in 0..24 {
                        let (fm, am) = (fleet_meter.clone(), all.clone());
                        let g = [a, b, local][i % 3];
                        let fleet = i % 3 != 2;
                        tasks.push(tokio::spawn(async move {
                            match i % 4 {
                                0 | 1 => {
                                    g.submit(0, async move {
                                        let _f = fleet.then(|| fm.enter());
                                        let _a = am.enter();
                                        tokio::time::sleep(Duration::from_millis(2)).await;
                                    })
                                    .await
                                }
                                2 => {
                                    g.submit_blocking(0, move || {
                                        let _f = fleet.then(|| fm.enter());
                                        let _a = am.enter();
                                        std::thread::sleep(Duration::from_millis(2));
                                    })
                                    .await
                                }
                                _ => {
                                    let p = g.acquire_owned(0).await?;
                                    {
                                        let _f = fleet.then(|| fm.enter());
                                        let _a = am.enter();
                                        tokio::time::sleep(Duration::from_millis(2)).await;
                                    }
                                    drop(p);
                                    Ok::<(), Rejected>(())
                                }
                            }
                        }));
                    }
                    for t in tasks {
                        tokio::time::timeout(Duration::from_secs(20), t)
                            .await
                            .expect("a call hung")
                            .unwrap()
                            .unwrap();
                    }
                    for g in [a, b] {
                        if let Some(fleet) = g.fleet() {
                            let _ = tokio::time::timeout(Duration::from_secs(5), fleet.flush()).await;
                        }
                    }
                });
                assert_eq!(fleet_meter.max(), 1, "fleet limit of one");
                assert!(all.max() <= 2, "ceiling of two: {}", all.max());
                assert_eq!(all.done(), 24);
                for g in [a, b, local] {
                    let s = g.stats();
                    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                    common::assert_accounted(&s);
                }
                let t0 = Instant::now();
                for g in [a, b] {
                    while g.fleet_stats().unwrap().held != 0 {
                        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", g.fleet_stats());
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                let c = ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
                common::assert_accounted(&c);
                assert_no_fleet_keys(&server, "r29_fleet_ceil");
            },
        );
    }
}

/// Malformed text around multi-byte characters (every error position next
/// to or inside one): never a panic, always an error at a line and column
/// inside the file.
#[test]
fn errors_next_to_multi_byte_characters_never_panic_and_name_a_place() {
    let _serial = config_turn();
    within(BOUND, || {
        let pieces = [
            "é", "日本", "🦀", "\u{200b}", "\u{feff}", "ß", "\u{301}", "\t", "\r\n", "\\", "\"",
            "'", "=", "[", "]", ".", "#", "\u{7f}", "\u{0}",
        ];
        let templates = [
            "{p} = 1\n",
            "ceiling = {p}\n",
            "ceiling = \"{p}\"\n",
            "[groups.\"r29::fixed\"]\nsize = {p}3\n",
            "[groups.\"r29::fixed\"]\nkind = \"{p}\"\n",
            "[groups.\"r29::fixed\"]\nkind = \"\\{p}\"\n",
            "[groups.\"{p}\"]\nsize = 3\n",
            "[groups.{p}]\nsize = 3\n",
            "[groups.\"r29::fixed\"]\n{p}size = 3\n",
            "[groups.\"r29::fixed\"]\nadmission_timeout = \"1{p}s\"\n",
            "[groups.\"r29::fixed\"]\nadmission_timeout = \"{p}\"\n",
            "# {p}\nceiling = 0\n",
            "ceiling = 4 # {p}\n[groups.\"r29::fixed\"]\nsize = -{p}\n",
            "[groups.\"r29::fixed\"]\nkind = \"\\u00{p}\"\n",
            "[groups.\"r29::fixed\"]\nkind = '''{p}\n",
            "[groups.\"r29::fixed\"]\nsize = 0x{p}\n",
        ];
        let before = (R29_FIXED.settings(), R29_SCALED.settings());
        let mut failures = Vec::new();
        for t in templates {
            for p in pieces {
                let text = t.replace("{p}", p);
                let lines = text.split('\n').count();
                let outcome = std::panic::catch_unwind(|| config::load_str("r29.toml", &text));
                match outcome {
                    Err(_) => failures.push(format!("{text:?}: panicked")),
                    Ok(Ok(_)) => {
                        config::clear();
                    }
                    Ok(Err(e)) => match e.origin() {
                        Some(Origin::File { line, column, .. })
                            if *line >= 1 && *line <= lines && *column >= 1 => {}
                        other => failures.push(format!("{text:?}: {other:?}: {e}")),
                    },
                }
                assert_eq!(
                    (R29_FIXED.settings(), R29_SCALED.settings()),
                    before,
                    "{text:?}"
                );
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

// ---------------------------------------------------------------------------
// Nested calls of a paused group, joined, with and without a ceiling of
// one over them, from async work and from sync work.

mod nested_in_a_paused_group {
    use super::common::{self, within, Meter};
    use pool_runtime::config;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec};
    use std::time::Duration;

    static NP: Group = Group::new(GroupSpec::new("r29::nested_paused").size(2));
    register_group!(NP);

    fn scenario(with_ceiling: bool, close: bool) {
        if with_ceiling {
            config::load_str("r29.toml", "ceiling = 1\n").expect("a valid file");
        }
        let meter = Meter::default();
        let m = meter.clone();
        let out = within(Duration::from_secs(20), move || {
            let rt = common::runtime();
            rt.block_on(async move {
                let parent = tokio::spawn(NP.submit(0, async move {
                    if close {
                        NP.pool().close(); // closed while its work runs
                    } else {
                        NP.pause(); // paused while its work runs
                    }
                    let body = |i: u32| {
                        let m = m.clone();
                        async move {
                            let _in = m.enter();
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            i
                        }
                    };
                    let (a, b, c) = tokio::join!(
                        NP.submit(0, body(1)),
                        NP.submit(0, body(2)),
                        NP.submit(0, body(3))
                    );
                    // A sync nested call too, after the joined ones.
                    let d = NP.run(|| drop(m.enter()));
                    (a, b, c, d)
                }));
                while !(NP.is_paused() || NP.pool().is_closed()) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let outside = NP.submit(0, async { 0 }).await;
                let out = parent.await.unwrap();
                NP.resume();
                (out, outside)
            })
        });
        let (inner, outside) = out;
        let (a, b, c, d) = inner.expect("admitted before the pause");
        assert_eq!((a, b, c, d), (Ok(1), Ok(2), Ok(3), Ok(())));
        assert!(
            outside.is_err(),
            "a new call of the paused group is turned away"
        );
        let limit = if with_ceiling { 1 } else { 2 };
        assert!(meter.max() <= limit, "limit {limit}, saw {}", meter.max());
        let s = NP.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        common::assert_accounted(&s);
        if with_ceiling {
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
            common::assert_accounted(&c);
        }
    }

    #[test]
    fn joined_nested_calls_of_a_paused_group_all_complete() {
        common::in_own_process(
            "nested_in_a_paused_group::joined_nested_calls_of_a_paused_group_all_complete",
            &[],
            || scenario(false, false),
        );
    }

    #[test]
    fn joined_nested_calls_of_a_paused_group_under_a_ceiling_of_one_all_complete() {
        common::in_own_process(
            "nested_in_a_paused_group::joined_nested_calls_of_a_paused_group_under_a_ceiling_of_one_all_complete",
            &[],
            || scenario(true, false),
        );
    }

    #[test]
    fn joined_nested_calls_of_a_closed_group_all_complete() {
        common::in_own_process(
            "nested_in_a_paused_group::joined_nested_calls_of_a_closed_group_all_complete",
            &[],
            || scenario(false, true),
        );
    }

    #[test]
    fn joined_nested_calls_of_a_closed_group_under_a_ceiling_of_one_all_complete() {
        common::in_own_process(
            "nested_in_a_paused_group::joined_nested_calls_of_a_closed_group_under_a_ceiling_of_one_all_complete",
            &[],
            || scenario(true, true),
        );
    }
}

// ---------------------------------------------------------------------------
// Weights across a full ceiling: a priority group's urgent call queued
// behind its batch calls while they all wait for the ceiling.

mod priority_across_the_ceiling {
    use super::common::{self, Task};
    use pool_runtime::config;
    use pool_runtime::{register_group, Group, GroupSpec, Order};
    use std::sync::{Arc, Mutex};

    static PRIO: Group = Group::new(GroupSpec::new("r29::prio").order(Order::Priority).size(4));
    static BLOCKER: Group = Group::new(GroupSpec::new("r29::prio_blocker").size(1));
    register_group!(PRIO);
    register_group!(BLOCKER);

    /// Without a ceiling the pool admits the urgent call first; with a
    /// ceiling of one that every call waits for, the same calls should be
    /// admitted in the same order (the group's order decides who goes next,
    /// as the README's example shows).
    #[test]
    fn an_urgent_call_waiting_for_the_ceiling_goes_before_batch_calls() {
        common::in_own_process(
            "priority_across_the_ceiling::an_urgent_call_waiting_for_the_ceiling_goes_before_batch_calls",
            &[],
            || {
                config::load_str("r29.toml", "ceiling = 1\n").expect("a valid file");
                let order = Arc::new(Mutex::new(Vec::new()));
                let mut holder = Task::new(BLOCKER.acquire_owned(0));
                let permit = match holder.poll() {
                    std::task::Poll::Ready(p) => p.unwrap(),
                    std::task::Poll::Pending => panic!("the ceiling is free"),
                };
                let mut calls: Vec<_> = [(10, "batch 1"), (10, "batch 2"), (10, "batch 3"), (0, "urgent")]
                    .into_iter()
                    .map(|(weight, name)| {
                        let order = order.clone();
                        Task::new(PRIO.submit(weight, async move {
                            order.lock().unwrap().push(name);
                        }))
                    })
                    .collect();
                for call in &mut calls {
                    call.assert_pending();
                }
                drop(permit);
                let mut done = [false; 4];
                for _ in 0..10 {
                    for (i, call) in calls.iter_mut().enumerate() {
                        if !done[i] {
                            done[i] = call.poll().is_ready();
                        }
                    }
                }
                let order = order.lock().unwrap().clone();
                assert_eq!(order.len(), 4, "{order:?}");
                assert_eq!(order[0], "urgent", "{order:?}");
            },
        );
    }
}

// ---------------------------------------------------------------------------
// A randomized poll-level run under a constant ceiling of two: calls of two
// groups (submit, permits, nested calls), dropped at random, groups paused,
// resumed and resized at random. Bodies never exceed the ceiling; at the
// end everything completes and balances.

mod random_under_the_ceiling {
    use super::common::{self, Meter, Task};
    use pool_runtime::config;
    use pool_runtime::{ceiling, register_group, Group, GroupSpec, Order, Rejected};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Poll;

    static RA: Group = Group::new(
        GroupSpec::new("r29::random_a")
            .order(Order::Priority)
            .size(2),
    );
    static RB: Group = Group::new(GroupSpec::new("r29::random_b").order(Order::Lifo).size(1));
    register_group!(RA);
    register_group!(RB);

    type Call = Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>>;

    struct Gate(Arc<AtomicBool>);
    impl Future for Gate {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<()> {
            if self.0.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    fn body(meter: &Meter, open: &Arc<AtomicBool>) -> impl Future<Output = ()> + Send + 'static {
        let (meter, open) = (meter.clone(), open.clone());
        async move {
            let _in = meter.enter();
            Gate(open).await;
        }
    }

    fn call(
        form: u64,
        g: &'static Group,
        other: &'static Group,
        w: i64,
        meter: &Meter,
        open: &Arc<AtomicBool>,
    ) -> Call {
        match form % 3 {
            0 => Box::pin(g.submit(w, body(meter, open))),
            1 => {
                let b = body(meter, open);
                Box::pin(async move {
                    let p = g.acquire_owned(w).await?;
                    b.await;
                    drop(p);
                    Ok(())
                })
            }
            _ => {
                let (first, nested) = (body(meter, open), body(meter, open));
                Box::pin(g.submit(w, async move {
                    first.await;
                    let _ = other.submit(w, nested).await;
                }))
            }
        }
    }

    #[test]
    fn random_calls_pauses_and_resizes_never_exceed_a_constant_ceiling() {
        common::in_own_process(
            "random_under_the_ceiling::random_calls_pauses_and_resizes_never_exceed_a_constant_ceiling",
            &[],
            || {
                config::load_str("r29.toml", "ceiling = 2\n").expect("a valid file");
                for run in 0..40u64 {
                    let meter = Meter::default();
                    let mut seed: u64 = 0x2929_2929 + run * 7919;
                    let mut next = move |n: u64| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        (seed >> 33) % n
                    };
                    let mut calls: Vec<Option<(Task<Call>, Arc<AtomicBool>)>> = Vec::new();
                    let groups = [&RA, &RB];
                    for step in 0..4000 {
                        match next(10) {
                            0..=2 => {
                                let gi = next(2) as usize;
                                let open = Arc::new(AtomicBool::new(false));
                                let c = call(next(3), groups[gi], groups[1 - gi], next(5) as i64, &meter, &open);
                                calls.push(Some((Task::new(c), open)));
                            }
                            3..=5 if !calls.is_empty() => {
                                let i = next(calls.len() as u64) as usize;
                                if let Some((task, _)) = &mut calls[i] {
                                    if task.poll().is_ready() {
                                        calls[i] = None;
                                    }
                                }
                            }
                            6 if !calls.is_empty() => {
                                let i = next(calls.len() as u64) as usize;
                                if let Some((_, open)) = &calls[i] {
                                    open.store(true, SeqCst);
                                }
                            }
                            7 if !calls.is_empty() => {
                                let i = next(calls.len() as u64) as usize;
                                calls[i] = None; // dropped wherever it is
                            }
                            8 => {
                                let g = groups[next(2) as usize];
                                if g.is_paused() {
                                    g.resume();
                                } else {
                                    g.pause();
                                }
                            }
                            _ => {
                                let g = groups[next(2) as usize];
                                g.resize(next(4) as usize);
                            }
                        }
                        assert!(meter.now() <= 2, "run {run} step {step}: {} bodies under a ceiling of 2", meter.now());
                    }
                    // The end: everything open, resumed and sized; all complete.
                    for g in groups {
                        g.resume();
                        g.resize(2);
                    }
                    for _ in 0..200 {
                        for slot in calls.iter_mut() {
                            if let Some((task, open)) = slot {
                                open.store(true, SeqCst);
                                if task.poll().is_ready() {
                                    *slot = None;
                                }
                            }
                        }
                        assert!(meter.now() <= 2);
                    }
                    let left = calls.iter().filter(|c| c.is_some()).count();
                    assert_eq!(left, 0, "calls never completed");
                    assert!(meter.max() <= 2);
                    for g in groups {
                        let s = g.stats();
                        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                        common::assert_accounted(&s);
                    }
                }
                let c = ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
                common::assert_accounted(&c);
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Bad loads racing good ones (of one content) and calls: the settings in
// force never move, every error names a place.

mod bad_loads_racing {
    use super::common::{self, Meter};
    use pool_runtime::config::{self, Origin};
    use pool_runtime::{ceiling, register_group, Group, GroupSpec, Kind};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    static BL: Group = Group::new(
        GroupSpec::new("r29::racing")
            .kind(Kind::Autoscale)
            .min(1)
            .max(8),
    );
    register_group!(BL);

    const GOOD: &str =
        "ceiling = 3\n[groups.\"r29::racing\"]\nmin = 2\nmax = 3\nmax_waiting = 50\n";
    const BAD: &[&str] = &[
        "ceiling = 1\n[groups.\"r29::racing\"]\nmin = 4\nmax = 3\n",
        "ceiling = 5\n[groups.\"r29::racing\"]\nmin = 1\nmax = 1\nmax_waiting = -1\n",
        "ceiling = 2\n[groups.\"r29::racing\"]\nmin = 1\nmax = 2\nkind = \"fixd\"\n",
        "ceiling = 2\n[groups.\"r29::racin\"]\nmin = 1\n",
        "ceiling = 0\n[groups.\"r29::racing\"]\nmax = 1\n",
        "ceiling = 2\n[groups.\"r29::racing\"]\nmax = 1\nadaptive_tolerance = 2.0\n",
        "ceiling = 2\n[groups.\"r29::racing\"]\nmax = 1\n[groups.\"r29::racing\"]\nmax = 2\n",
    ];

    #[test]
    fn bad_loads_racing_good_ones_and_calls_never_move_the_settings() {
        common::in_own_process(
            "bad_loads_racing::bad_loads_racing_good_ones_and_calls_never_move_the_settings",
            &[],
            || {
                config::load_str("good.toml", GOOD).expect("a valid file");
                let expected = (BL.settings(), ceiling::limit());
                assert_eq!(expected.1, Some(3));
                let stop = Arc::new(AtomicBool::new(false));
                let meter = Meter::default();
                let mut threads = Vec::new();
                {
                    let stop = stop.clone();
                    threads.push(std::thread::spawn(move || {
                        let mut failures = Vec::new();
                        let mut i = 0;
                        while !stop.load(SeqCst) {
                            let text = BAD[i % BAD.len()];
                            i += 1;
                            match config::load_str("bad.toml", text) {
                                Ok(_) => failures.push(format!("{text:?} accepted")),
                                Err(e) => {
                                    if !matches!(e.origin(), Some(Origin::File { line, column, .. }) if *line >= 1 && *column >= 1)
                                    {
                                        failures.push(format!("{text:?}: {e}"));
                                    }
                                }
                            }
                        }
                        failures
                    }));
                }
                {
                    let stop = stop.clone();
                    threads.push(std::thread::spawn(move || {
                        let mut failures = Vec::new();
                        while !stop.load(SeqCst) {
                            if let Err(e) = config::load_str("good.toml", GOOD) {
                                failures.push(e.to_string());
                            }
                        }
                        failures
                    }));
                }
                for _ in 0..2 {
                    let (stop, meter) = (stop.clone(), meter.clone());
                    threads.push(std::thread::spawn(move || {
                        while !stop.load(SeqCst) {
                            let m = meter.clone();
                            let _ = BL.run(move || {
                                let _in = m.enter();
                                std::thread::sleep(Duration::from_micros(200));
                            });
                        }
                        Vec::new()
                    }));
                }
                let t0 = Instant::now();
                let mut moved = Vec::new();
                while t0.elapsed() < Duration::from_millis(800) {
                    let now = (BL.settings(), ceiling::limit());
                    if now != expected && moved.len() < 5 {
                        moved.push(format!("{now:?}"));
                    }
                    let size = BL.size();
                    if !(2..=3).contains(&size) && moved.len() < 5 {
                        moved.push(format!("size {size}"));
                    }
                }
                stop.store(true, SeqCst);
                let mut failures: Vec<String> = Vec::new();
                for t in threads {
                    failures.extend(t.join().unwrap());
                }
                assert!(moved.is_empty(), "the settings moved: {moved:?}");
                assert!(failures.is_empty(), "{failures:?}");
                assert!(meter.max() <= 3, "max 3, saw {}", meter.max());
                let s = BL.stats();
                assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                common::assert_accounted(&s);
            },
        );
    }
}

// ---------------------------------------------------------------------------
// A fleet call under the ceiling that loses its lease (Redis gone past the
// lease): it ends with `LeaseLost`, its work dropped, and gives its ceiling
// slot back, so another group's call gets in; all balances.

#[cfg(feature = "redis")]
mod lease_lost_under_the_ceiling {
    use super::common::{self, Meter};
    use super::redis_server::*;
    use pool_runtime::fleet::OnUnreachable;
    use pool_runtime::{ceiling, config, Group, GroupSpec, Rejected};
    use std::time::{Duration, Instant};

    #[test]
    fn a_call_that_loses_its_lease_gives_its_ceiling_slot_back() {
        common::in_own_process(
            "lease_lost_under_the_ceiling::a_call_that_loses_its_lease_gives_its_ceiling_slot_back",
            &[],
            || {
                let mut server = RedisServer::start();
                let g = fleet_group("r29_lease_lost", &server, 1, OnUnreachable::Reject);
                let local: &'static Group = Box::leak(Box::new(Group::new(
                    GroupSpec::new("r29::lost_local").size(1),
                )));
                assert!(g.pool().size() > 0 && local.pool().size() > 0);
                config::load_str("r29.toml", "ceiling = 1\n").expect("a valid file");
                let meter = Meter::default();
                let rt = common::runtime();
                let holder = {
                    let m = meter.clone();
                    rt.spawn(async move {
                        g.submit(0, async move {
                            let _in = m.enter();
                            std::future::pending::<()>().await;
                        })
                        .await
                    })
                };
                let t0 = Instant::now();
                while meter.now() == 0 {
                    assert!(t0.elapsed() < Duration::from_secs(10), "never admitted");
                    std::thread::sleep(Duration::from_millis(5));
                }
                server.stop();
                let out = rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(10), holder).await
                });
                assert_eq!(
                    out.expect("the call ends once its lease is lost").unwrap(),
                    Err(Rejected::LeaseLost)
                );
                assert_eq!(meter.now(), 0, "its work was dropped");
                // The ceiling slot is free: a local call gets in at once.
                let m = meter.clone();
                assert_eq!(local.run(move || drop(m.enter())), Ok(()));
                assert!(meter.max() <= 1);
                server.restart();
                let s = g.stats();
                assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                common::assert_accounted(&s);
                let s = local.stats();
                common::assert_accounted(&s);
                let c = ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting, c.nested), (0, 0, 0), "{c:?}");
                common::assert_accounted(&c);
                assert!(g.fleet_stats().unwrap().lost >= 1, "{:?}", g.fleet_stats());
            },
        );
    }
}
