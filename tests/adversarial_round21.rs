//! Hostile tests of `#[pooled]`, round 21: drop ordering under the
//! application-wide ceiling. The arguments of a `blocking` function's call
//! are user code whose `Drop` runs when the call is turned away or
//! cancelled; that `Drop` may call another `#[pooled]` function, which
//! needs a ceiling slot: the call must have given its own back first.
#![cfg(all(feature = "tokio", feature = "config"))]

mod common;
use common::within;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pooled::Rejected;

const BOUND: Duration = Duration::from_secs(10);

/// An argument whose `Drop` calls another `#[pooled]` function (a sync
/// one: under a ceiling it parks until a ceiling slot is free) and records
/// its answer.
struct CallsOther(Arc<Mutex<Option<Result<(), Rejected>>>>);

impl Drop for CallsOther {
    fn drop(&mut self) {
        let out = other();
        *self.0.lock().unwrap() = Some(out);
    }
}

#[pooled::pooled(size = 4)]
fn other() -> Result<(), Rejected> {
    Ok(())
}

#[pooled::pooled(blocking, size = 1, max_waiting = 0)]
fn full_blocking(guard: CallsOther) -> Result<(), Rejected> {
    drop(guard);
    Ok(())
}

/// Promise: nothing hangs; a full function that may not queue answers
/// with an error value. Attack: under a ceiling of 1, a `blocking`
/// function of 1 slot with `max_waiting = 0`, its slot held through its
/// handle's pool (which takes no ceiling slot); a call takes the ceiling
/// slot, is turned away by its group (`Full`), and its argument is dropped
/// unused: the argument's `Drop` calls another `#[pooled]` function, which
/// needs the ceiling slot the turned-away call still holds.
#[test]
fn a_turned_away_blocking_calls_argument_may_call_another_pooled_fn_under_a_ceiling() {
    pooled::config::load_str("adv21.toml", "ceiling = 1\n").unwrap();
    let (answer, out) = within(BOUND, || {
        let holder = FULL_BLOCKING_POOL.pool().try_acquire().unwrap();
        let seen = Arc::new(Mutex::new(None));
        let answer = futures::executor::block_on(full_blocking(CallsOther(seen.clone())));
        drop(holder);
        let out = seen.lock().unwrap().take();
        (answer, out)
    });
    let ceiling = pooled::ceiling::stats().unwrap();
    pooled::config::clear();
    assert_eq!(answer, Err(Rejected::Full));
    assert_eq!(out, Some(Ok(())), "the argument's Drop calling `other`");
    assert_eq!((ceiling.running, ceiling.waiting), (0, 0), "{ceiling:?}");
}
