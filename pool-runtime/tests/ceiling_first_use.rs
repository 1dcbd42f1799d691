//! The application-wide ceiling set by the environment (`POOLED_CEILING`)
//! gates the very first group call of a process, on every call path.
//!
//! The environment is read at the first use of any group, and that read is
//! what sets the ceiling. A call that decided "no ceiling" before taking its
//! group's pool ran ungated: with a ceiling of 1, the first call and one
//! made while it ran were both running (found by review: the async paths
//! had it since the ceiling's decision moved before the group's pool was
//! taken; the sync and blocking paths always had). Each case runs in a
//! child process of its own, since a first use happens once per process.
#![cfg(feature = "config")]

mod common;

use common::{in_child_process, runtime};
use pool_runtime::{register_group, Group, GroupSpec};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static FIRST: Group = Group::new(GroupSpec::new("ceiling_first_use::first").size(4));
static SECOND: Group = Group::new(GroupSpec::new("ceiling_first_use::second").size(4));
register_group!(FIRST);
register_group!(SECOND);

/// Bodies running now, and the most ever at once (counted here, outside
/// the library).
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

const HOLD: Duration = Duration::from_millis(200);
const SECOND_AFTER: Duration = Duration::from_millis(50);

fn enter() {
    let n = NOW.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(n, Ordering::SeqCst);
}

fn leave() {
    NOW.fetch_sub(1, Ordering::SeqCst);
}

async fn async_body() {
    enter();
    tokio::time::sleep(HOLD).await;
    leave();
}

fn sync_body() {
    enter();
    std::thread::sleep(HOLD);
    leave();
}

fn under_ceiling_of_one(name: &str, scenario: impl FnOnce()) {
    in_child_process(name, &[(b"POOLED_CEILING", b"1")], || {
        scenario();
        assert_eq!(pool_runtime::ceiling::limit(), Some(1));
        assert_eq!(
            PEAK.load(Ordering::SeqCst),
            1,
            "two group calls ran at once under a ceiling of 1"
        );
    });
}

#[test]
fn the_first_submit_is_under_the_ceiling() {
    under_ceiling_of_one("the_first_submit_is_under_the_ceiling", || {
        runtime().block_on(async {
            let first = tokio::spawn(FIRST.submit(0, async_body()));
            tokio::time::sleep(SECOND_AFTER).await;
            let second = tokio::spawn(SECOND.submit(0, async_body()));
            first.await.unwrap().unwrap();
            second.await.unwrap().unwrap();
        });
    });
}

#[test]
fn the_first_submit_wait_is_under_the_ceiling() {
    under_ceiling_of_one("the_first_submit_wait_is_under_the_ceiling", || {
        runtime().block_on(async {
            let first = tokio::spawn(FIRST.submit_wait(0, async_body()));
            tokio::time::sleep(SECOND_AFTER).await;
            let second = tokio::spawn(SECOND.submit_wait(0, async_body()));
            first.await.unwrap();
            second.await.unwrap();
        });
    });
}

#[test]
fn the_first_run_is_under_the_ceiling() {
    under_ceiling_of_one("the_first_run_is_under_the_ceiling", || {
        let first = std::thread::spawn(|| FIRST.run(sync_body).unwrap());
        std::thread::sleep(SECOND_AFTER);
        let second = std::thread::spawn(|| SECOND.run(sync_body).unwrap());
        first.join().unwrap();
        second.join().unwrap();
    });
}

#[test]
fn the_first_run_wait_is_under_the_ceiling() {
    under_ceiling_of_one("the_first_run_wait_is_under_the_ceiling", || {
        let first = std::thread::spawn(|| FIRST.run_wait(0, sync_body));
        std::thread::sleep(SECOND_AFTER);
        let second = std::thread::spawn(|| SECOND.run_wait(0, sync_body));
        first.join().unwrap();
        second.join().unwrap();
    });
}

#[test]
fn the_first_blocking_call_is_under_the_ceiling() {
    under_ceiling_of_one("the_first_blocking_call_is_under_the_ceiling", || {
        runtime().block_on(async {
            let first = tokio::spawn(FIRST.submit_blocking(0, sync_body));
            tokio::time::sleep(SECOND_AFTER).await;
            let second = tokio::spawn(SECOND.submit_blocking(0, sync_body));
            first.await.unwrap().unwrap();
            second.await.unwrap().unwrap();
        });
    });
}
