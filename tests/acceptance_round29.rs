//! Acceptance tests of the facade, round 29: `#[pooled]` functions of a
//! priority group under the application-wide ceiling (`POOLED_CEILING`,
//! read at the process's first group call): every weight form the attribute
//! takes (a constant, a `#[weight]` parameter, an expression over the
//! arguments) on async, sync and `blocking` functions ranks the calls'
//! wait for a ceiling slot, and a FIFO group's calls wait as weight 0.
//! Bodies are counted from outside; waits are bounded only to turn a hang
//! into a failure.
#![cfg(not(miri))]

mod common;

use common::{within, Meter};
use std::sync::Mutex;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(30);

#[pooled::group(order = "priority", size = 8)]
/// The ranked group.
pub struct Ranked;

#[pooled::group(size = 8)]
/// A FIFO group.
pub struct Plain;

#[pooled::group(size = 1)]
/// Holds the ceiling.
pub struct Holder;

static BODIES: Meter = Meter::new();
static ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn mark(label: &'static str) {
    let _inside = BODIES.enter();
    ORDER.lock().unwrap().push(label);
    std::thread::sleep(Duration::from_millis(2));
}

#[pooled::pooled(group = Ranked, weight = 9)]
async fn constant_nine(label: &'static str) {
    mark(label);
}

#[pooled::pooled(group = Ranked)]
async fn by_parameter(#[weight] _urgency: i64, label: &'static str) {
    mark(label);
}

#[pooled::pooled(group = Ranked, weight = i64::from(n) * 2)]
fn sync_by_expression(n: i32, label: &'static str) {
    mark(label);
}

#[pooled::pooled(group = Ranked, blocking, weight = 1)]
fn blocking_one(label: &'static str) {
    mark(label);
}

#[pooled::pooled(group = Plain)]
async fn plain_call(label: &'static str) {
    mark(label);
}

fn waiting_for_the_ceiling() -> usize {
    pooled::ceiling::stats().map_or(0, |s| s.waiting)
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// README: "`POOLED_CEILING=64`" ("at most 64 calls running across all
/// groups"), and "Calls waiting for a ceiling slot are admitted by their
/// weight if their group is a priority group (smaller first, as in the
/// group: an urgent call goes before batch calls made before it), else as
/// weight 0, and in arrival order among equal weights"; the attribute's
/// `weight`: "integer literal, or an expression over the arguments", or
/// `#[weight]` on a parameter. Under `POOLED_CEILING=1`, held by another
/// group's permit, annotated calls of every shape queue for the ceiling in
/// one order and are admitted smallest rank first, one at a time.
#[test]
fn annotated_calls_wait_for_the_ceiling_by_their_weight_in_every_form() {
    common::in_own_process(
        "annotated_calls_wait_for_the_ceiling_by_their_weight_in_every_form",
        &[("POOLED_CEILING", "1")],
        || {
            within(BOUND, || {
                let rt = common::multi_thread();
                let held = Holder::POOL.try_acquire_owned(0).expect("a free ceiling");
                assert_eq!(pooled::ceiling::limit(), Some(1));
                let mut tasks = Vec::new();
                let mut threads = Vec::new();
                let mut made = 0;
                let arrived = |made: &mut usize| {
                    *made += 1;
                    let m = *made;
                    wait_until("the call waits for the ceiling", || {
                        waiting_for_the_ceiling() == m
                    });
                };
                tasks.push(rt.spawn(constant_nine("const9")));
                arrived(&mut made);
                threads.push(std::thread::spawn(|| sync_by_expression(3, "expr6")));
                arrived(&mut made);
                tasks.push(rt.spawn(by_parameter(-4, "param-4")));
                arrived(&mut made);
                tasks.push(rt.spawn(plain_call("plain")));
                arrived(&mut made);
                tasks.push(rt.spawn(async { blocking_one("blocking1").await }));
                arrived(&mut made);
                tasks.push(rt.spawn(by_parameter(9, "param9")));
                arrived(&mut made);
                assert_eq!(Ranked::POOL.stats().waiting, 0, "not yet the group's");
                drop(held);
                for t in threads {
                    t.join().unwrap();
                }
                rt.block_on(async {
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                assert_eq!(
                    *ORDER.lock().unwrap(),
                    ["param-4", "plain", "blocking1", "expr6", "const9", "param9"]
                );
                assert_eq!(BODIES.peak(), 1, "one body at a time under a ceiling of 1");
                let c = pooled::ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            });
        },
    );
}
