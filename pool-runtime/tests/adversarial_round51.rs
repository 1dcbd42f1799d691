//! Adversarial round 51: a call turned away at once is answered within its
//! tokio task's cooperative budget (commit c3ed360). Everything here counts
//! from outside the library: the answers each call gets, the pool's
//! counters, the work that ran.
//!
//! No application-wide ceiling is set in this binary (see
//! `adversarial_round51_ceiling.rs` for the group path under one).

mod common;

use common::assert_accounted;
use pool_runtime::{Pool, Rejected};

/// Without feature `tokio` (and, with it, off any runtime) there is no
/// budget: every rejection is answered at the first poll, whatever executor
/// drives it. Would catch: a rejection answered `Pending` outside tokio
/// (`block_on` of `futures` would then park for good, as nothing defers and
/// then delivers a wake-up), or a rejection counted twice.
#[test]
fn outside_tokio_every_rejection_is_answered_at_its_first_poll() {
    let pool = Pool::fixed(1);
    pool.pause();
    futures::executor::block_on(async {
        for _ in 0..2000 {
            let mut call = std::pin::pin!(pool.submit(async { 1 }));
            assert_eq!(
                futures::poll!(call.as_mut()),
                std::task::Poll::Ready(Err(Rejected::Paused))
            );
        }
        for _ in 0..500 {
            assert_eq!(pool.acquire().await.err(), Some(Rejected::Paused));
            assert_eq!(pool.run(|| 1), Err(Rejected::Paused));
        }
    });
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Paused), 3000, "{stats:?}");
    assert_accounted(&stats);
    pool.resume();
    pool.close();
    futures::executor::block_on(async {
        for _ in 0..500 {
            assert_eq!(pool.submit(async {}).await, Err(Rejected::Closed));
        }
    });
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Closed), 500, "{stats:?}");
    assert_accounted(&stats);
}

#[cfg(feature = "tokio")]
mod on_tokio {
    use super::assert_accounted;
    use super::common::{on_one_thread, retry};
    use pool_runtime::{Group, GroupSpec, Pool, Rejected, Verdict};
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::Duration;

    /// Spends what is left of this task's budget, without yielding.
    async fn spend_budget() {
        while tokio::task::coop::has_budget_remaining() {
            let mut unit = pin!(tokio::task::coop::consume_budget());
            assert!(futures::poll!(unit.as_mut()).is_ready());
        }
    }

    /// A call turned away past the budget and dropped before its answer is
    /// delivered was counted once, as rejected, when it was decided.
    /// Would catch: a dropped `TURNED_AWAY` call counted again (cancelled)
    /// or not at all, or one that is `Pending` without having been counted.
    #[test]
    fn turned_away_calls_dropped_before_their_answer_are_counted_once() {
        let (pending, stats) = on_one_thread(async {
            let pool = Pool::fixed(2);
            pool.pause();
            spend_budget().await;
            let mut pending = 0;
            for i in 0..3000 {
                let ran = AtomicBool::new(false);
                let poll = match i % 3 {
                    0 => futures::poll!(pin!(
                        pool.submit(async { ran.store(true, Ordering::SeqCst) })
                    ))
                    .map(|r| r.err()),
                    1 => futures::poll!(pin!(pool.acquire())).map(|r| r.err()),
                    _ => futures::poll!(pin!(pool.submit_blocking(|| ()))).map(|r| r.err()),
                };
                assert!(!ran.load(Ordering::SeqCst));
                if poll.is_pending() {
                    pending += 1;
                } else {
                    panic!("answered past the budget: {poll:?}");
                }
            }
            tokio::task::yield_now().await;
            (pending, pool.stats())
        });
        assert_eq!(pending, 3000);
        assert_eq!(stats.rejected_for(Rejected::Paused), 3000, "{stats:?}");
        assert_eq!((stats.cancelled, stats.completed), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    }

    /// Polled twice in the same task poll, a turned-away call stays
    /// `Pending` and is counted once; after a yield it answers the reason.
    /// Would catch: a second poll that decides again (counted twice), or
    /// one that answers a reason other than the one decided.
    #[test]
    fn a_turned_away_call_polled_twice_then_after_a_yield_is_counted_once() {
        let stats = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.pause();
            spend_budget().await;
            let mut call = pin!(pool.submit_weighted(5, async { 1 }));
            assert!(futures::poll!(call.as_mut()).is_pending());
            assert!(futures::poll!(call.as_mut()).is_pending());
            assert_eq!(pool.stats().rejected_total(), 1);
            tokio::task::yield_now().await;
            assert_eq!(
                futures::poll!(call.as_mut()),
                Poll::Ready(Err(Rejected::Paused))
            );
            pool.stats()
        });
        assert_eq!(stats.rejected_for(Rejected::Paused), 1, "{stats:?}");
        assert_eq!(stats.submitted(), 1, "{stats:?}");
        assert_accounted(&stats);
    }

    /// `tokio::select!` with a branch that wins, and `tokio::time::timeout`
    /// of zero, drop calls turned away past the budget. Would catch: a lost
    /// or doubled count, or a hang (the deferred wake-up never comes).
    #[test]
    fn select_and_zero_timeouts_drop_turned_away_calls_without_miscounting() {
        let (timed_out, stats) = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.pause();
            let mut timed_out = 0u64;
            for i in 0..2000 {
                if i % 200 == 0 {
                    spend_budget().await;
                }
                if i % 2 == 0 {
                    tokio::select! {
                        biased;
                        r = pool.submit(async { 1 }) => assert_eq!(r, Err(Rejected::Paused)),
                        _ = std::future::ready(()) => {}
                    }
                } else {
                    match tokio::time::timeout(Duration::ZERO, pool.submit(async { 2 })).await {
                        Ok(r) => assert_eq!(r, Err(Rejected::Paused)),
                        Err(_) => timed_out += 1,
                    }
                }
            }
            (timed_out, pool.stats())
        });
        let _ = timed_out;
        assert_eq!(stats.rejected_for(Rejected::Paused), 2000, "{stats:?}");
        assert_eq!(stats.submitted(), 2000, "{stats:?}");
        assert_accounted(&stats);
    }

    /// A call decided as paused, answered after the pool was resumed, still
    /// answers `Paused`, its work never runs, and it is counted once.
    /// Would catch: a `TURNED_AWAY` call decided again at its next poll
    /// (admitted after the resume, or answered another reason).
    #[test]
    fn a_paused_answer_survives_a_resume_before_it_is_delivered() {
        let stats = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.pause();
            spend_budget().await;
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let mut call = pin!(pool.submit(async move { flag.store(true, Ordering::SeqCst) }));
            assert!(futures::poll!(call.as_mut()).is_pending());
            pool.resume();
            let _ = pool.scale(3);
            tokio::task::yield_now().await;
            assert_eq!(call.await, Err(Rejected::Paused));
            assert!(!ran.load(Ordering::SeqCst));
            pool.stats()
        });
        assert_eq!(
            (stats.rejected_for(Rejected::Paused), stats.completed),
            (1, 0),
            "{stats:?}"
        );
        assert_accounted(&stats);
    }

    /// A call decided as paused, answered after the pool was closed (and
    /// drained), still answers `Paused` and is counted once, as paused.
    /// Would catch: the kept answer re-decided as `Closed` at delivery, or
    /// counted a second time under the new reason.
    #[test]
    fn a_paused_answer_survives_a_close_before_it_is_delivered() {
        let stats = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.pause();
            spend_budget().await;
            let mut call = pin!(pool.submit(async { 1 }));
            assert!(futures::poll!(call.as_mut()).is_pending());
            pool.close();
            pool.drained().await;
            assert_eq!(call.await, Err(Rejected::Paused));
            pool.stats()
        });
        assert_eq!(stats.rejected_for(Rejected::Paused), 1, "{stats:?}");
        assert_eq!(stats.rejected_for(Rejected::Closed), 0, "{stats:?}");
        assert_accounted(&stats);
    }

    /// A stream of calls of a paused pool, polled with the budget spent and
    /// dropped before its turned-away calls were answered: every call it
    /// started is counted once. Would catch: a call kept by the stream's
    /// in-flight set counted again (cancelled) when the stream is dropped.
    #[cfg(feature = "stream")]
    #[test]
    fn a_stream_dropped_with_turned_away_calls_in_flight_counts_each_once() {
        use futures::StreamExt;
        use pool_runtime::PooledStreamExt;
        let stats = on_one_thread(async {
            let pool = Pool::fixed(2);
            pool.pause();
            for _ in 0..50 {
                spend_budget().await;
                let mut outcomes = pin!(futures::stream::iter(0..8)
                    .map(|n| async move { n })
                    .pooled_unordered(&pool));
                let _ = futures::poll!(outcomes.next());
                let _ = futures::poll!(outcomes.next());
            }
            tokio::task::yield_now().await;
            pool.stats()
        });
        assert!(stats.submitted() > 0, "{stats:?}");
        assert_eq!(stats.cancelled, 0, "{stats:?}");
        assert_eq!(stats.rejected_total(), stats.submitted(), "{stats:?}");
        assert_accounted(&stats);
    }

    /// A call decided as full (`max_waiting = 0`), answered after the slot
    /// was freed and the bound lifted, still answers `Full`. And a closed
    /// one stays `Closed`. Would catch: the answer re-decided at delivery.
    #[test]
    fn full_and_closed_answers_survive_state_changes_before_delivery() {
        let stats = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.set_max_waiting(Some(0)).unwrap();
            let permit = pool.acquire_owned(0).await.unwrap();
            spend_budget().await;
            let mut full = pin!(pool.acquire_weighted(3));
            assert!(futures::poll!(full.as_mut()).is_pending());
            let mut full_submit = pin!(pool.submit_judged(0, async { 1 }, |_| Verdict::Success));
            assert!(futures::poll!(full_submit.as_mut()).is_pending());
            drop(permit);
            pool.set_max_waiting(None).unwrap();
            tokio::task::yield_now().await;
            assert_eq!(full.await.err(), Some(Rejected::Full));
            assert_eq!(full_submit.await, Err(Rejected::Full));
            let stats = pool.stats();
            assert_eq!(stats.rejected_for(Rejected::Full), 2, "{stats:?}");
            pool.close();
            spend_budget().await;
            let mut closed = pin!(pool.submit_blocking(|| 1));
            assert!(futures::poll!(closed.as_mut()).is_pending());
            tokio::task::yield_now().await;
            assert_eq!(closed.await, Err(Rejected::Closed));
            pool.stats()
        });
        assert_eq!(stats.rejected_for(Rejected::Full), 2, "{stats:?}");
        assert_eq!(stats.rejected_for(Rejected::Closed), 1, "{stats:?}");
        assert_eq!(stats.completed, 1, "the permit held: {stats:?}");
        assert_accounted(&stats);
    }

    /// Timed-out waiters polled one after another in one task poll, the
    /// budget running out among them (both parities of what is left, so
    /// that some timer fires with the last unit and its answer is kept):
    /// every call is answered once, admitted or timed out, never both.
    /// Would catch: a `TimedOut` kept in the node and later admitted (the
    /// identity breaks: counted rejected and completed), or a lost wake-up.
    #[test]
    fn timed_out_waiters_answered_across_the_budget_are_counted_once() {
        for extra in [0, 1] {
            let (outcomes, stats) = on_one_thread(async move {
                let pool = Pool::fixed(1);
                pool.set_admission_timeout(Some(Duration::from_millis(5)));
                let permit = pool.acquire_owned(0).await.unwrap();
                let mut calls: Vec<_> = (0..100)
                    .map(|i| Box::pin(pool.submit(async move { i })))
                    .collect();
                for call in &mut calls {
                    assert!(futures::poll!(call.as_mut()).is_pending());
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
                for _ in 0..extra {
                    tokio::task::coop::consume_budget().await;
                }
                let mut answers = Vec::new();
                for call in &mut calls {
                    answers.push(futures::poll!(call.as_mut()));
                }
                drop(permit);
                let mut outcomes = (0u64, 0u64);
                for (call, answer) in calls.into_iter().zip(answers) {
                    let answer = match answer {
                        Poll::Ready(answer) => answer,
                        Poll::Pending => call.await,
                    };
                    match answer {
                        Ok(_) => outcomes.0 += 1,
                        Err(Rejected::TimedOut) => outcomes.1 += 1,
                        Err(other) => panic!("{other:?}"),
                    }
                }
                (outcomes, pool.stats())
            });
            assert_eq!(outcomes.0 + outcomes.1, 100);
            assert_eq!(
                stats.rejected_for(Rejected::TimedOut),
                outcomes.1,
                "{stats:?}"
            );
            assert_eq!(stats.completed, outcomes.0 + 1, "{stats:?}");
            assert_accounted(&stats);
        }
    }

    /// Retry loops of every async form on a current-thread runtime, with
    /// the task that lets them in spawned beside them. Would catch: a form
    /// whose rejection is not charged to the budget (the loop spins for
    /// good; the watchdog fails the test).
    #[test]
    fn retry_loops_of_every_pool_form_let_the_resumer_run() {
        let stats = on_one_thread(async {
            let pool = Pool::fixed(2);
            let mut total = 0;
            for form in 0..6 {
                pool.pause();
                let resumer = {
                    let pool = pool.clone();
                    tokio::spawn(async move { pool.resume() })
                };
                total += match form {
                    0 => retry(Rejected::Paused, || pool.submit_weighted(3, async { 1 })).await,
                    1 => {
                        retry(Rejected::Paused, || {
                            pool.submit_judged(1, async { 1 }, |_| Verdict::Success)
                        })
                        .await
                    }
                    2 => retry(Rejected::Paused, || pool.acquire_weighted(2)).await,
                    3 => retry(Rejected::Paused, || pool.acquire_owned(0)).await,
                    4 => retry(Rejected::Paused, || pool.submit_blocking(|| 1)).await,
                    _ => retry(Rejected::Paused, || pool.submit_blocking_weighted(4, || 1)).await,
                };
                resumer.await.unwrap();
            }
            assert!(total > 0);
            let stats = pool.stats();
            assert_eq!(stats.rejected_total(), total, "{stats:?}");
            stats
        });
        assert_eq!(stats.completed, 6, "{stats:?}");
        assert_accounted(&stats);
    }

    static LOOPED: Group = Group::new(GroupSpec::new("round51-looped").size(1));

    /// The same for a group's forms (no ceiling in this binary). Would
    /// catch: a group form that answers a paused group at once whatever
    /// the budget.
    #[test]
    fn retry_loops_of_every_group_form_let_the_resumer_run() {
        let stats = on_one_thread(async {
            let mut total = 0;
            for form in 0..5 {
                LOOPED.pause();
                let resumer = tokio::spawn(async { LOOPED.resume() });
                total += match form {
                    0 => retry(Rejected::Paused, || LOOPED.submit(0, async { 1 })).await,
                    1 => {
                        retry(Rejected::Paused, || {
                            LOOPED.submit_judged(0, async { 1 }, |_| Verdict::Success)
                        })
                        .await
                    }
                    2 => retry(Rejected::Paused, || LOOPED.submit_blocking(0, || 1)).await,
                    3 => retry(Rejected::Paused, || LOOPED.acquire(0)).await,
                    _ => retry(Rejected::Paused, || LOOPED.acquire_owned(0)).await,
                };
                resumer.await.unwrap();
            }
            assert!(total > 0);
            let stats = LOOPED.stats();
            assert_eq!(stats.rejected_total(), total, "{stats:?}");
            stats
        });
        assert_accounted(&stats);
    }

    /// A stream of calls of a paused pool, read until one is let in, on a
    /// current-thread runtime. Would catch: the stream adapter answering
    /// its calls' rejections outside the budget (the reader spins).
    #[cfg(feature = "stream")]
    #[test]
    fn a_stream_read_until_admitted_lets_the_resumer_run() {
        use futures::StreamExt;
        use pool_runtime::PooledStreamExt;
        let (rejected, stats) = on_one_thread(async {
            let pool = Pool::fixed(2);
            pool.pause();
            let resumer = {
                let pool = pool.clone();
                tokio::spawn(async move { pool.resume() })
            };
            let mut outcomes =
                pin!(futures::stream::repeat_with(|| async { 1 }).pooled_unordered(&pool));
            let mut rejected = 0;
            loop {
                match outcomes.next().await.expect("endless") {
                    Ok(_) => break,
                    Err(reason) => {
                        assert_eq!(reason, Rejected::Paused);
                        rejected += 1;
                    }
                }
            }
            resumer.await.unwrap();
            (rejected, pool.stats())
        });
        assert!(rejected > 0);
        assert!(
            stats.rejected_for(Rejected::Paused) >= rejected,
            "{stats:?}"
        );
    }

    /// A tower service in reject mode, retried until it is let in, on a
    /// current-thread runtime. Would catch: its rejections answered
    /// outside the budget (the retrying task starves the resumer).
    #[cfg(feature = "tower")]
    #[test]
    fn a_tower_reject_mode_retry_loop_lets_the_resumer_run() {
        use pool_runtime::tower::PooledLayer;
        use tower::{service_fn, Layer, ServiceExt};
        let rejected =
            on_one_thread(async {
                let pool = Pool::fixed(1);
                pool.pause();
                let resumer = {
                    let pool = pool.clone();
                    tokio::spawn(async move { pool.resume() })
                };
                let service = PooledLayer::pool(pool.clone()).reject().layer(service_fn(
                    |n: u32| async move { Ok::<_, std::convert::Infallible>(n) },
                ));
                let mut rejected = 0u64;
                loop {
                    match service.clone().oneshot(1).await {
                        Ok(_) => break,
                        Err(error) => {
                            assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
                            rejected += 1;
                        }
                    }
                }
                resumer.await.unwrap();
                rejected
            });
        assert!(rejected > 0);
    }

    /// Past the budget, the `try_` forms still answer at once, inside the
    /// very task whose budget is spent, and admissions are never charged.
    /// Would catch: a no-op-waker poll charged (a `try_` form answering as
    /// if the pool were busy), or an admission held back by the budget.
    /// (Under `--release` this failed at the first `try_acquire`, which
    /// answered `Full` for the paused pool while the pool counted `Paused`:
    /// `call::budget` told the attempt's waker by comparing it with
    /// `Waker::noop()`, whose vtable address differs between codegen units.
    /// Attempts now poll with one `static` waker, `call::answer_now`.)
    #[test]
    fn try_forms_answer_at_once_and_admissions_are_free_past_the_budget() {
        let stats = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.pause();
            spend_budget().await;
            for _ in 0..500 {
                assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
                assert_eq!(pool.try_acquire_owned(1).err(), Some(Rejected::Paused));
            }
            assert!(!tokio::task::coop::has_budget_remaining());
            pool.resume();
            for _ in 0..100 {
                let mut call = pin!(pool.submit(async { 1 }));
                assert_eq!(futures::poll!(call.as_mut()), Poll::Ready(Ok(1)));
                assert!(pool.try_acquire().is_ok());
            }
            pool.stats()
        });
        assert_eq!(stats.rejected_for(Rejected::Paused), 1000, "{stats:?}");
        assert_eq!(stats.completed, 200, "{stats:?}");
        assert_accounted(&stats);
    }

    /// Past the budget, sync `Pool::run` on a paused pool answers `Paused`
    /// at once (it polls with the no-op waker, never charged), on the
    /// thread of a current-thread runtime. Would catch: the no-op waker not
    /// recognised (`will_wake` compares vtable addresses, which differ
    /// between codegen units), so the rejection is kept and `run` goes on
    /// to park, which it refuses there with a panic.
    #[test]
    fn sync_run_answers_a_paused_pool_at_once_past_the_budget() {
        let stats = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.pause();
            spend_budget().await;
            for _ in 0..100 {
                assert_eq!(pool.run(|| 1), Err(Rejected::Paused));
            }
            pool.stats()
        });
        assert_eq!(stats.rejected_for(Rejected::Paused), 100, "{stats:?}");
        assert_accounted(&stats);
    }

    /// Past the budget, `Pool::spawn` on a paused pool answers `Err(Paused)`
    /// at once. Would catch: its first attempt (no-op waker) charged, the
    /// rejection kept, and a handle returned that later yields `Paused`.
    #[test]
    fn spawn_answers_a_paused_pool_at_once_past_the_budget() {
        let (spawned, stats) = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.pause();
            spend_budget().await;
            let spawned = pool.spawn(async { 1 }).is_ok();
            tokio::task::yield_now().await;
            (spawned, pool.stats())
        });
        assert!(!spawned, "a paused pool handed out a handle: {stats:?}");
    }

    /// Sync `run` in `spawn_blocking`, and on a multi-thread worker whose
    /// own task and a sibling task spent their budgets, retried on a paused
    /// pool until another task resumes it. Would catch: a sync caller that
    /// parks for a wake-up deferred to a task that never yields.
    #[test]
    fn sync_retry_loops_in_blocking_threads_and_on_workers_finish() {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let stats = rt.block_on(async {
                let pool = Pool::fixed(1);
                pool.pause();
                let blocking = {
                    let pool = pool.clone();
                    tokio::task::spawn_blocking(move || {
                        let mut rejected = 0u64;
                        while pool.run(|| 1).is_err() {
                            rejected += 1;
                            std::hint::spin_loop();
                        }
                        rejected
                    })
                };
                let worker = {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        spend_budget().await;
                        let mut rejected = 0u64;
                        while pool.run(|| 1).is_err() {
                            rejected += 1;
                            std::hint::spin_loop();
                        }
                        rejected
                    })
                };
                let spinner = {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        spend_budget().await;
                        retry(Rejected::Paused, || pool.submit(async {})).await
                    })
                };
                tokio::time::sleep(Duration::from_millis(20)).await;
                pool.resume();
                let rejected =
                    blocking.await.unwrap() + worker.await.unwrap() + spinner.await.unwrap();
                let stats = pool.stats();
                assert_eq!(stats.rejected_total(), rejected, "{stats:?}");
                stats
            });
            let _ = done.send(stats);
        });
        let stats = finished
            .recv_timeout(Duration::from_secs(20))
            .expect("a sync retry loop hung");
        assert_eq!(stats.completed, 3, "{stats:?}");
        assert_accounted(&stats);
    }

    /// Several tasks on one thread hammer a pool of 2 that may not queue:
    /// most calls are turned away (past the budget too), some are let in;
    /// the work running at once never exceeds 2, and every call is
    /// counted. Would catch: a kept rejection later admitted past the
    /// limit, or a slot lost or doubled.
    #[test]
    fn limits_hold_while_rejections_past_the_budget_and_admissions_interleave() {
        let (max, stats) = on_one_thread(async {
            let pool = Pool::fixed(2);
            pool.set_max_waiting(Some(0)).unwrap();
            let running = Arc::new(AtomicUsize::new(0));
            let max = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for t in 0..6 {
                let (pool, running, max) = (pool.clone(), running.clone(), max.clone());
                tasks.push(tokio::spawn(async move {
                    let mut admitted = 0;
                    let mut i = 0u64;
                    while admitted < 50 {
                        i += 1;
                        let work = {
                            let (running, max) = (running.clone(), max.clone());
                            async move {
                                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                                max.fetch_max(now, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                running.fetch_sub(1, Ordering::SeqCst);
                            }
                        };
                        let outcome = match (t + i) % 3 {
                            0 => pool.submit(work).await,
                            1 => pool.submit_judged(0, work, |_| Verdict::Success).await,
                            _ => match pool.acquire().await {
                                Ok(permit) => {
                                    work.await;
                                    drop(permit);
                                    Ok(())
                                }
                                Err(reason) => Err(reason),
                            },
                        };
                        match outcome {
                            Ok(()) => admitted += 1,
                            Err(reason) => assert_eq!(reason, Rejected::Full),
                        }
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            (max.load(Ordering::SeqCst), pool.stats())
        });
        assert!(max <= 2, "{max} ran at once");
        assert_eq!(stats.completed, 300, "{stats:?}");
        assert_eq!(stats.running, 0, "{stats:?}");
        assert_accounted(&stats);
    }

    /// A waker whose `clone` panics.
    struct CloneBomb;
    static CLONE_BOMB: std::task::RawWakerVTable =
        std::task::RawWakerVTable::new(|_| panic!("clone bomb"), |_| {}, |_| {}, |_| {});
    fn clone_bomb() -> Waker {
        let _ = CloneBomb;
        // Safety: the vtable ignores its data pointer.
        unsafe { Waker::from_raw(std::task::RawWaker::new(std::ptr::null(), &CLONE_BOMB)) }
    }

    /// A waker whose `wake` panics (its clones too).
    struct WakeBomb;
    impl Wake for WakeBomb {
        fn wake(self: Arc<Self>) {
            panic!("wake bomb")
        }
    }

    /// A call turned away past the budget, polled with a waker whose
    /// `clone` panics (tokio clones it to defer the wake-up): the panic
    /// passes, the call was counted once, and polled again with a good
    /// waker it answers the reason it was turned away for. Would catch: a
    /// double count, a hang, or the answer changing (the node left `DONE`
    /// by the unwinding poll, so the next poll answers `Closed`).
    #[test]
    fn a_clone_panicking_waker_on_a_turned_away_call_keeps_its_reason() {
        let (answer, stats) = on_one_thread(async {
            let pool = Pool::fixed(1);
            pool.pause();
            spend_budget().await;
            let mut call = Box::pin(pool.submit(async { 1 }));
            let bomb = clone_bomb();
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut cx = Context::from_waker(&bomb);
                call.as_mut().poll(&mut cx)
            }));
            assert!(unwound.is_err(), "tokio clones the waker it defers");
            assert_eq!(pool.stats().rejected_total(), 1);
            tokio::task::yield_now().await;
            let answer = call.await;
            (answer, pool.stats())
        });
        assert_eq!(stats.rejected_for(Rejected::Paused), 1, "{stats:?}");
        assert_accounted(&stats);
        assert_eq!(answer, Err(Rejected::Paused), "{stats:?}");
    }

    /// The same with a waker whose `wake` panics: the deferred wake-up
    /// panics in the runtime as the task yields (as it would for any tokio
    /// resource); the call, dropped, was counted once. Would catch: a
    /// double count, or a call whose drop counts it again.
    #[test]
    fn a_wake_panicking_waker_on_a_turned_away_call_counts_it_once() {
        let pool = Pool::fixed(1);
        pool.pause();
        let inner = pool.clone();
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(async {
                    spend_budget().await;
                    let bomb = Waker::from(Arc::new(WakeBomb));
                    let mut call = Box::pin(inner.submit(async { 1 }));
                    let mut cx = Context::from_waker(&bomb);
                    assert!(call.as_mut().poll(&mut cx).is_pending());
                    drop(call);
                    tokio::task::yield_now().await;
                })
            }));
            drop(rt);
            let _ = done.send(out.is_err());
        });
        let _panicked = finished
            .recv_timeout(Duration::from_secs(20))
            .expect("hung");
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Paused), 1, "{stats:?}");
        assert_eq!(stats.cancelled, 0, "{stats:?}");
        assert_accounted(&stats);
    }

    /// `Pool::spawn` on a paused pool in a loop (sync: it never yields), a
    /// task resuming the pool on another worker. Would catch: `spawn`
    /// answering a paused pool with anything but an immediate `Err`.
    #[test]
    fn spawn_retried_on_a_paused_pool_from_a_worker_gets_in() {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let out = rt.block_on(async {
                let pool = Pool::fixed(1);
                pool.pause();
                let looper = {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        spend_budget().await;
                        let mut rejected = 0u64;
                        let handle = loop {
                            match pool.spawn(async { 9 }) {
                                Ok(handle) => break handle,
                                Err(reason) => {
                                    assert_eq!(reason, Rejected::Paused);
                                    rejected += 1;
                                }
                            }
                        };
                        (rejected, handle.await)
                    })
                };
                tokio::time::sleep(Duration::from_millis(10)).await;
                pool.resume();
                let (rejected, out) = looper.await.unwrap();
                (rejected, out, pool.stats())
            });
            let _ = done.send(out);
        });
        let (rejected, out, stats) = finished
            .recv_timeout(Duration::from_secs(20))
            .expect("hung");
        assert_eq!(out, Ok(9));
        assert_eq!(stats.rejected_total(), rejected, "{stats:?}");
        assert_accounted(&stats);
    }
}
