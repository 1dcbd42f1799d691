//! Every way a call ends releases what it holds: completion, error, panic,
//! and dropping it while waiting or running (tower's
//! `response_future_drop_releases_capacity`, for each path).

mod common;

use common::{gate, Task};
use pool_runtime::{Order, Pool, Rejected};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

#[test]
fn dropping_a_waiting_call_removes_it_from_the_queue_at_once() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let (held, open) = gate();
        let mut holder = Task::new(pool.submit(held));
        holder.assert_pending();
        let call = |w: i64| pool.submit_weighted(w, std::future::ready(w));
        let mut a = Task::new(call(1));
        let mut b = Task::new(call(2));
        let mut c = Task::new(call(3));
        a.assert_pending();
        b.assert_pending();
        c.assert_pending();
        assert_eq!(pool.stats().waiting, 3);
        drop(b);
        assert_eq!(pool.stats().waiting, 2, "{order}");
        open.store(true, Ordering::SeqCst);
        holder.assert_ready().unwrap();
        let (first, second) = if order == Order::Lifo {
            (&mut c, &mut a)
        } else {
            (&mut a, &mut c)
        };
        assert!(first.assert_ready().is_ok());
        assert!(second.assert_ready().is_ok());
        let stats = pool.stats();
        assert_eq!(
            (stats.completed, stats.cancelled, stats.running),
            (3, 1, 0),
            "{order}"
        );
    }
}

#[test]
fn dropping_a_running_call_frees_its_slot_for_the_next_waiter() {
    let pool = Pool::fixed(1);
    let (held, _never) = gate();
    let mut running = Task::new(pool.submit(held));
    running.assert_pending();
    let mut next = Task::new(pool.submit(async { "next" }));
    next.assert_pending();
    drop(running);
    assert!(next.is_woken());
    assert_eq!(next.assert_ready(), Ok("next"));
    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.completed, stats.running), (1, 1, 0));
}

#[test]
fn dropping_a_call_that_was_handed_a_slot_but_never_ran_passes_the_slot_on() {
    let pool = Pool::fixed(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut chosen = Task::new(pool.submit(async {}));
    let mut after = Task::new(pool.submit(async { "after" }));
    chosen.assert_pending();
    after.assert_pending();
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    assert!(chosen.is_woken());
    drop(chosen); // admitted, then dropped before it was polled again
    assert!(after.is_woken());
    assert_eq!(after.assert_ready(), Ok("after"));
    assert_eq!(pool.stats().running, 0);
}

#[test]
fn a_dropped_never_polled_call_is_not_counted_at_all() {
    let pool = Pool::fixed(1);
    drop(pool.submit(async {}));
    assert_eq!(pool.stats().submitted(), 0);
}

#[test]
fn a_panicking_call_frees_its_slot_and_the_panic_reaches_the_caller() {
    let pool = Pool::fixed(1);
    let mut boom = Task::new(pool.submit(async {
        common::yield_now().await;
        panic!("boom");
    }));
    boom.assert_pending();
    let mut waiting = Task::new(pool.submit(async { 1 }));
    waiting.assert_pending();
    let result = catch_unwind(AssertUnwindSafe(move || boom.poll()));
    let payload = result.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    assert_eq!(waiting.assert_ready(), Ok(1));
    let stats = pool.stats();
    assert_eq!((stats.panicked, stats.completed, stats.running), (1, 2, 0));
}

#[test]
fn a_panicking_sync_call_frees_its_slot() {
    let pool = Pool::fixed(1);
    let result = catch_unwind(AssertUnwindSafe(|| pool.run(|| panic!("sync boom"))));
    assert!(result.is_err());
    assert_eq!(pool.run(|| 2), Ok(2));
    let stats = pool.stats();
    assert_eq!((stats.panicked, stats.completed, stats.running), (1, 2, 0));
}

#[test]
fn an_error_result_is_a_completed_call_and_releases_the_slot() {
    let pool = Pool::fixed(1);
    let out: Result<Result<(), &str>, Rejected> =
        futures::executor::block_on(pool.submit(async { Err("no") }));
    assert_eq!(out, Ok(Err("no")));
    assert_eq!((pool.stats().completed, pool.stats().running), (1, 0));
}

#[test]
fn works_with_non_send_futures_that_borrow_from_the_caller() {
    let pool = Pool::fixed(2);
    let local = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut borrowed = vec![1, 2, 3];
    futures::executor::block_on(async {
        let l = &local;
        let b = &mut borrowed;
        pool.submit(async move {
            l.set(l.get() + 1);
            b.push(4);
        })
        .await
        .unwrap();
    });
    assert_eq!((local.get(), borrowed.len()), (1, 4));
}
