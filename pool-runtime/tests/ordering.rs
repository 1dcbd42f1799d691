//! Admission order: FIFO, LIFO, priority (smaller weight first, FIFO among
//! equals), and no barging by newcomers.

mod common;

use common::{gate, Task};
use pool_runtime::{Order, Pool};
use std::cell::RefCell;
use std::sync::atomic::Ordering as AtomicOrdering;

/// Holds the only slot, queues one call per weight (in that arrival order),
/// releases the slot, and returns the order in which the calls ran.
fn admission_order(order: Order, weights: &[i64]) -> Vec<usize> {
    let pool = Pool::builder().order(order).size(1).build().unwrap();
    let ran = RefCell::new(Vec::new());
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let ran_ref = &ran;
    let mut calls: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            Task::new(pool.submit_weighted(w, async move { ran_ref.borrow_mut().push(i) }))
        })
        .collect();
    for call in &mut calls {
        call.assert_pending();
    }
    assert_eq!(pool.stats().waiting, weights.len());
    open.store(true, AtomicOrdering::SeqCst);
    assert_eq!(holder.assert_ready(), Ok(()));
    // Each finished call hands its slot to the next in order; poll everyone
    // until all are done, in index order, so polling order cannot decide.
    let mut done = vec![false; calls.len()];
    while done.iter().any(|d| !d) {
        for (i, call) in calls.iter_mut().enumerate() {
            if !done[i] && call.poll().is_ready() {
                done[i] = true;
            }
        }
    }
    drop(calls);
    ran.into_inner()
}

#[test]
fn fifo_admits_in_arrival_order() {
    assert_eq!(admission_order(Order::Fifo, &[0; 5]), [0, 1, 2, 3, 4]);
}

#[test]
fn lifo_admits_newest_first() {
    assert_eq!(admission_order(Order::Lifo, &[0; 5]), [4, 3, 2, 1, 0]);
}

#[test]
fn priority_admits_smaller_weights_first_and_ties_in_arrival_order() {
    assert_eq!(
        admission_order(Order::Priority, &[5, 1, 5, -3, 1, 0]),
        [3, 5, 1, 4, 0, 2]
    );
}

#[test]
fn fifo_and_lifo_ignore_weights() {
    assert_eq!(admission_order(Order::Fifo, &[9, 1, 5]), [0, 1, 2]);
    assert_eq!(admission_order(Order::Lifo, &[1, 9, 5]), [2, 1, 0]);
}

#[test]
fn only_the_chosen_waiter_is_woken_and_a_newcomer_cannot_take_its_slot() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let (held, open) = gate();
        let mut holder = Task::new(pool.submit(held));
        holder.assert_pending();
        let call = |name: &'static str| pool.submit_weighted(1, std::future::ready(name));
        let mut a = Task::new(call("a"));
        let mut b = Task::new(call("b"));
        a.assert_pending();
        b.assert_pending();
        open.store(true, AtomicOrdering::SeqCst);
        holder.assert_ready().unwrap();
        let (next, other) = if order == Order::Lifo {
            (&mut b, &mut a)
        } else {
            (&mut a, &mut b)
        };
        assert!(next.is_woken(), "{order}: the next waiter is woken");
        assert!(
            !other.is_woken(),
            "{order}: only one waiter is woken per slot"
        );
        // A newcomer arriving before the woken waiter runs must queue behind.
        let mut newcomer = Task::new(pool.submit_weighted(-100, std::future::ready("new")));
        newcomer.assert_pending();
        assert_eq!(
            pool.stats().running,
            1,
            "{order}: the slot is reserved for the waiter"
        );
        assert!(next.assert_ready().is_ok());
        // The freed slot then goes by order: to the earlier waiter (FIFO), or
        // to the newest / lightest call, which is the newcomer (LIFO, priority).
        if order == Order::Fifo {
            assert!(other.assert_ready().is_ok());
            assert_eq!(newcomer.assert_ready(), Ok("new"));
        } else {
            other.assert_pending();
            assert_eq!(newcomer.assert_ready(), Ok("new"));
            assert!(other.assert_ready().is_ok());
        }
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting, stats.completed), (0, 0, 4));
    }
}

#[test]
fn priority_newcomer_with_smaller_weight_goes_before_queued_heavier_calls() {
    // Not barging: it waits for a free slot like everyone, but ranks by weight.
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let ran = RefCell::new(Vec::new());
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let r = &ran;
    let mut heavy =
        Task::new(pool.submit_weighted(10, async move { r.borrow_mut().push("heavy") }));
    heavy.assert_pending();
    let mut light = Task::new(pool.submit_weighted(1, async move { r.borrow_mut().push("light") }));
    light.assert_pending();
    open.store(true, AtomicOrdering::SeqCst);
    holder.assert_ready().unwrap();
    heavy.assert_pending();
    light.assert_ready().unwrap();
    heavy.assert_ready().unwrap();
    drop((heavy, light));
    assert_eq!(ran.into_inner(), ["light", "heavy"]);
}
