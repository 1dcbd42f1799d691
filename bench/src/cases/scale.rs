//! Case 5: does admission cost grow with the queue? Priority and LIFO pools of
//! one slot with 10^3 and with 10^6 calls waiting; the cost per admission is the
//! time to hand the slot through all of them.
//!
//! The queue is built by hand: every call is a `submit_weighted` future, boxed
//! (the harness's cost, not the pool's: a real caller's future lives in its
//! task) and polled once with a no-op waker, behind one call that holds the
//! slot. Only the drain is timed: release the holder, then poll each waiting
//! call in the order the pool must admit them — each poll finds itself
//! admitted, runs its (empty) work, and releases, which hands the slot to the
//! next. A call that is polled out of turn would still be pending: the
//! harness asserts it is not, so the order is checked as it is timed.

use crate::measure::{interleaved, variant};
use crate::options::Options;
use crate::report::{Row, Table, Target};
use crate::rng::Rng;
use pooled::{Order, Pool, Submit};
use std::cell::Cell;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::mem::size_of;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Waiting calls: (small, large), full and quick.
const SIZES: ((usize, usize), (usize, usize)) = ((1_000, 1_000_000), (100, 10_000));
/// Admissions per sample (the small size is repeated up to this), full and quick.
const ADMISSIONS: (usize, usize) = (1_000_000, 10_000);

/// How the waiting calls are weighted.
#[derive(Debug, Clone, Copy)]
enum Weights {
    /// All zero (LIFO pools ignore weights anyway).
    Zero,
    /// Uniform in `0..n`: a few urgency levels, many calls per level.
    Levels(u64),
    /// Random 64-bit weights: (almost) every call its own level.
    Distinct,
}

impl Weights {
    fn draw(self, rng: &mut Rng) -> i64 {
        match self {
            Weights::Zero => 0,
            Weights::Levels(n) => rng.below(n) as i64,
            Weights::Distinct => rng.next_u64() as i64,
        }
    }
}

/// The indices of `weights` in the order `order` admits them.
fn admission_order(order: Order, weights: &[i64]) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..weights.len()).collect();
    match order {
        Order::Fifo => {}
        Order::Lifo => indices.reverse(),
        // Smaller first; a stable sort keeps equal weights first-come first-served.
        Order::Priority => indices.sort_by_key(|&i| weights[i]),
    }
    indices
}

type Waiting<'a> = Pin<Box<Submit<'a, Ready<()>>>>;

/// Nanoseconds per admission when handing one slot through `waiting` queued
/// calls, averaged over `rounds` queues.
fn hand_off_cost(order: Order, weights: Weights, waiting: usize, rounds: usize) -> f64 {
    let pool = Pool::builder()
        .order(order)
        .size(1)
        .build()
        .expect("a valid pool");
    let mut cx = Context::from_waker(Waker::noop());
    let mut rng = Rng::new(waiting as u64);
    let mut timed = Duration::ZERO;
    for _ in 0..rounds {
        let released = Cell::new(false);
        let hold = crate::gate::held_until(&released);
        let mut holder = pin!(pool.submit(hold));
        assert!(
            holder.as_mut().poll(&mut cx).is_pending(),
            "the holder runs"
        );

        let weights: Vec<i64> = (0..waiting).map(|_| weights.draw(&mut rng)).collect();
        let mut calls: Vec<Option<Waiting<'_>>> = weights
            .iter()
            .map(|&weight| {
                let mut call = Box::pin(pool.submit_weighted(weight, ready(())));
                assert!(call.as_mut().poll(&mut cx).is_pending(), "the call waits");
                Some(call)
            })
            .collect();
        assert_eq!(pool.stats().waiting, waiting);
        // Lay the calls out in admission order, so the harness walks its own
        // vector sequentially: what is left to the timing is the pool's work
        // (and the calls' own memory, wherever the allocator put it).
        let mut in_turn: Vec<Waiting<'_>> = admission_order(order, &weights)
            .into_iter()
            .map(|i| calls[i].take().expect("each index once"))
            .collect();

        let start = Instant::now();
        released.set(true);
        let freed = drain(holder.as_mut(), &mut in_turn, &mut cx);
        timed += start.elapsed();

        assert!(freed.is_ready());
        assert_eq!(pool.stats().running, 0);
        drop(in_turn);
    }
    timed.as_nanos() as f64 / (waiting * rounds) as f64
}

/// The timed part: release the holder, then poll every call in turn. Not
/// inlined, so a profiler can count exactly this (`valgrind --tool=callgrind
/// --toggle-collect='*scale::drain*'`).
#[inline(never)]
fn drain<H: Future>(
    holder: Pin<&mut H>,
    in_turn: &mut [Waiting<'_>],
    cx: &mut Context<'_>,
) -> Poll<H::Output> {
    let freed = holder.poll(cx);
    for call in in_turn {
        if call.as_mut().poll(cx).is_pending() {
            panic!("a call was polled out of turn: the pool admitted another one");
        }
    }
    freed
}

/// A stand-in for a waiting call: as big as one, linked to the next call to
/// admit.
#[repr(C)]
struct Link<'a> {
    next: Cell<Option<&'a Link<'a>>>,
    _body: [u64; LINK_PADDING],
}

const LINK_PADDING: usize = (size_of::<Submit<'static, Ready<()>>>() - size_of::<usize>()) / 8;

/// The floor of [`hand_off_cost`]: the same boxes, allocated the same way,
/// linked in the order the pool admits them, and walked from link to link —
/// what any linked queue pays to visit its waiters in that order, each visit
/// needing the previous one's memory. No pool involved; what the pool adds
/// is the difference.
fn walk_cost(order: Order, weights: Weights, waiting: usize, rounds: usize) -> f64 {
    let mut rng = Rng::new(waiting as u64);
    let mut timed = Duration::ZERO;
    for _ in 0..rounds {
        let weights: Vec<i64> = (0..waiting).map(|_| weights.draw(&mut rng)).collect();
        let calls: Vec<Box<Link<'_>>> = (0..waiting)
            .map(|i| {
                Box::new(Link {
                    next: Cell::new(None),
                    _body: [i as u64; LINK_PADDING],
                })
            })
            .collect();
        let in_turn = admission_order(order, &weights);
        for pair in in_turn.windows(2) {
            calls[pair[0]].next.set(Some(&*calls[pair[1]]));
        }
        let start = Instant::now();
        black_box(walk(&calls[in_turn[0]]));
        timed += start.elapsed();
    }
    timed.as_nanos() as f64 / (waiting * rounds) as f64
}

/// Follows the links to the end; returns how many it visited.
#[inline(never)]
fn walk(first: &Link<'_>) -> usize {
    let (mut visited, mut at) = (1, first);
    while let Some(next) = at.next.get() {
        visited += 1;
        at = next;
    }
    visited
}

pub fn run(options: &Options, table: &mut Table) {
    let (small, large) = if options.quick { SIZES.1 } else { SIZES.0 };
    let admissions = options.size(ADMISSIONS.0, ADMISSIONS.1);
    let rounds = |waiting: usize| (admissions / waiting).max(1);
    let variants = [
        ("LIFO", "lifo", Order::Lifo, Weights::Zero),
        (
            "priority, weights 0..32",
            "levels",
            Order::Priority,
            Weights::Levels(32),
        ),
        (
            "priority, distinct weights",
            "distinct",
            Order::Priority,
            Weights::Distinct,
        ),
    ];
    for (name, short, order, weights) in variants {
        let medians = interleaved(
            options,
            vec![
                variant(format!("{short}-{large}"), || {
                    hand_off_cost(order, weights, large, rounds(large))
                }),
                variant(format!("{short}-{small}"), || {
                    hand_off_cost(order, weights, small, rounds(small))
                }),
                variant(format!("{short}-floor-{large}"), || {
                    walk_cost(order, weights, large, rounds(large))
                }),
                variant(format!("{short}-floor-{small}"), || {
                    walk_cost(order, weights, small, rounds(small))
                }),
            ],
        );
        let [large_ns, small_ns, large_floor, small_floor] = medians[..] else {
            unreachable!()
        };
        table.push(Row::ratio(
            format!("5 {name}, {} waiting", count(large)),
            "hand-polled",
            large_ns,
            format!("same, {} waiting", count(small)),
            small_ns,
            Target::RatioAtMost(2.0),
        ));
        table.push(Row::ratio(
            format!(
                "5 {name}: floor, walking {} linked calls in that order",
                count(large)
            ),
            "hand-polled",
            large_floor,
            format!("floor, {}", count(small)),
            small_floor,
            Target::Info,
        ));
        table.push(Row::ratio(
            format!("5 {name}: pool's share (minus floor), {}", count(large)),
            "hand-polled",
            large_ns - large_floor,
            format!("same, {}", count(small)),
            small_ns - small_floor,
            Target::Info,
        ));
    }
}

fn count(n: usize) -> String {
    match n {
        1_000_000 => "10^6".into(),
        1_000 => "10^3".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_admits_smaller_weights_first_and_ties_in_arrival_order() {
        assert_eq!(
            admission_order(Order::Priority, &[5, 1, 5, 0]),
            [3, 1, 0, 2]
        );
        assert_eq!(admission_order(Order::Lifo, &[5, 1, 5]), [2, 1, 0]);
    }

    #[test]
    fn the_pool_admits_in_the_order_the_harness_expects() {
        // hand_off_cost panics on a call polled out of turn.
        for (order, weights) in [
            (Order::Lifo, Weights::Zero),
            (Order::Priority, Weights::Levels(4)),
            (Order::Priority, Weights::Distinct),
        ] {
            assert!(hand_off_cost(order, weights, 50, 2).is_finite());
        }
    }
}
