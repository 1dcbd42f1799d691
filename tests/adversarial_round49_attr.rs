//! Hostile round 49, the attribute side: `#[pooled::pooled(blocking)]`
//! functions of groups declared with `executor = "rayon"` (feature `rayon`).
//!
//! Coverage: a panicking body (plain and with a payload whose `Drop`
//! panics) frees its slot and reaches the caller; a blocking rayon body
//! calling a sync function of its own group (nested) from many callers
//! keeps the limit, counted from outside; futures of blocking functions
//! dropped while their body runs never let more bodies run than the limit;
//! a blocking rayon body calling a blocking function of another rayon group.
//! Every wait is bounded (`within`).
//!
//! Broken promises found: none.
#![cfg_attr(not(feature = "rayon"), allow(dead_code, unused_imports))]

mod common;

#[cfg(feature = "rayon")]
mod on_rayon {
    use super::common::{within, Meter};
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::Duration;

    const BOUND: Duration = Duration::from_secs(20);

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    struct Bomb;

    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("round49 the payload's drop panics");
            }
        }
    }

    fn quiet_panics() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let hook = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                if !format!("{info}").contains("round49") {
                    hook(info);
                }
            }));
        });
    }

    // ---- panics ---------------------------------------------------------------

    #[pooled::group(size = 1, executor = "rayon")]
    /// Panicking bodies.
    pub struct R49Panics;

    #[pooled::pooled(group = R49Panics, blocking)]
    fn r49_panics(kind: u8) -> u8 {
        match kind {
            0 => panic!("round49 plain"),
            1 => panic::panic_any(Bomb),
            k => k,
        }
    }

    #[test]
    fn panicking_blocking_rayon_bodies_free_the_slot_and_reach_the_caller() {
        quiet_panics();
        within(BOUND, || {
            let r = panic::catch_unwind(AssertUnwindSafe(|| block_on(r49_panics(0))));
            assert!(r.is_err());
            let r = panic::catch_unwind(AssertUnwindSafe(|| block_on(r49_panics(1))));
            match r {
                Err(payload) => match payload.downcast::<Bomb>() {
                    Ok(bomb) => std::mem::forget(bomb),
                    Err(_) => panic!("the payload reached the caller changed"),
                },
                Ok(v) => panic!("expected a panic, got {v}"),
            }
            assert_eq!(block_on(r49_panics(7)), 7, "the only slot came back");
            let s = R49Panics::POOL.stats();
            assert_eq!((s.completed, s.panicked, s.running), (3, 2, 0), "{s:?}");
        });
    }

    // ---- nested calls of the same group ------------------------------------------

    static OUTER: Meter = Meter::new();
    static INNER: Meter = Meter::new();

    #[pooled::group(size = 2, executor = "rayon")]
    /// A blocking body that calls a sync function of its own group.
    pub struct R49Nest;

    #[pooled::pooled(group = R49Nest)]
    fn r49_inner(v: u32) -> u32 {
        let _in = INNER.enter();
        v + 1
    }

    #[pooled::pooled(group = R49Nest, blocking)]
    fn r49_outer(v: u32) -> u32 {
        let _in = OUTER.enter();
        std::thread::sleep(Duration::from_millis(1));
        r49_inner(v)
    }

    #[test]
    fn blocking_rayon_bodies_calling_their_own_group_keep_the_limit() {
        within(BOUND, || {
            let hs: Vec<_> = (0..6u32)
                .map(|k| {
                    std::thread::spawn(move || {
                        (0..4u32)
                            .map(|i| block_on(r49_outer(k * 10 + i)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for (k, h) in hs.into_iter().enumerate() {
                let expect: Vec<u32> = (0..4).map(|i| k as u32 * 10 + i + 1).collect();
                assert_eq!(h.join().unwrap(), expect);
            }
            assert!(OUTER.peak() <= 2, "outer peak {}", OUTER.peak());
            assert!(INNER.peak() <= 2, "inner peak {}", INNER.peak());
            assert_eq!((OUTER.done(), INNER.done()), (24, 24));
            let s = R49Nest::POOL.stats();
            assert_eq!((s.completed, s.running, s.nested), (48, 0, 0), "{s:?}");
        });
    }

    // ---- futures dropped while the body runs --------------------------------------

    static DROPPED: Meter = Meter::new();

    #[pooled::pooled(blocking, size = 1, executor = "rayon")]
    fn r49_slow(started: Arc<AtomicBool>) {
        let _in = DROPPED.enter();
        started.store(true, SeqCst);
        std::thread::sleep(Duration::from_millis(5));
    }

    #[test]
    fn dropped_blocking_function_futures_never_let_two_bodies_run() {
        within(BOUND, || {
            let waker = futures::task::noop_waker();
            for _ in 0..8 {
                let started = Arc::new(AtomicBool::new(false));
                let mut fut = Box::pin(r49_slow(started.clone()));
                // Polled until its body runs (it may queue behind the body of
                // the future dropped last round, which still holds the slot).
                while !started.load(SeqCst) {
                    let polled = fut
                        .as_mut()
                        .poll(&mut std::task::Context::from_waker(&waker));
                    if polled.is_ready() {
                        break; // ran to its end already
                    }
                    std::thread::yield_now();
                }
                drop(fut);
            }
            block_on(r49_slow(Arc::new(AtomicBool::new(false))));
            assert_eq!(DROPPED.peak(), 1);
            while R49_SLOW_POOL.stats().running != 0 {
                std::thread::yield_now();
            }
            assert_eq!(DROPPED.done(), 9);
        });
    }

    use std::future::Future;

    // ---- another rayon group -------------------------------------------------------

    static OTHER: Meter = Meter::new();

    #[pooled::pooled(blocking, size = 1, executor = "rayon")]
    fn r49_other(v: u32) -> u32 {
        let _in = OTHER.enter();
        v * 2
    }

    // One caller at a time: a caller parks its rayon thread until the inner
    // job runs on another one of rayon's global threads (documented limit:
    // all of them parked so would deadlock that rayon pool).
    #[pooled::pooled(blocking, size = 1, executor = "rayon")]
    fn r49_caller(v: u32) -> u32 {
        futures::executor::block_on(r49_other(v))
    }

    #[test]
    fn a_blocking_rayon_body_calling_another_rayon_group() {
        within(BOUND, || {
            let futs: Vec<_> = (0..6).map(r49_caller).collect();
            let out = block_on(futures::future::join_all(futs));
            assert_eq!(out, vec![0, 2, 4, 6, 8, 10]);
            assert_eq!(OTHER.peak(), 1);
        });
    }
}
