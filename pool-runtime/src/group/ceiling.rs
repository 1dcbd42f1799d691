//! The application-wide ceiling: an optional limit on the calls running
//! across all groups, set by configuration (`ceiling = N` in the file, or
//! `POOLED_CEILING`) and lifted by leaving it out.
//!
//! While a ceiling is set, every group call takes a ceiling slot before its
//! group's slot. A nested call (one made from inside a running group call)
//! runs under its parent's ceiling slot: the ceiling counts top-level calls,
//! and nested calls never wait for it. A call waiting for a busy group holds
//! its ceiling slot meanwhile: give backlogged groups a `max_waiting` bound or
//! an admission timeout so they cannot sit on the ceiling.

// Why ceiling first: only calls that hold a ceiling slot ever hold (or wait
// for) a group slot, so the ceiling adds no wait cycle: every group slot is
// held by a call that is past the ceiling and can run. Taken the other way
// round, a ceiling holder whose work calls into a second group could wait for
// that group's slots while their holders wait for the ceiling: a deadlock the
// tests reproduce. The ceiling pool's reentrancy frame covers the call's work,
// which is what lets nested calls through.

use crate::admission::core::{Core, Mode};
use crate::call::acquire::Acquire;
use crate::call::blocking::OwnedSlot;
use crate::call::Form;
use crate::pool::stats::Stats;
use crate::pool::Pool;
use crate::scale::LimitCause;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::task::{ready, Context, Poll};

static POOL: OnceLock<Pool> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        Pool::builder()
            .name("(ceiling)")
            .size(1)
            .build()
            .expect("a fixed pool of 1")
    })
}

/// Sets (or, with `None`, lifts) the ceiling. Lowering it lets running calls
/// finish; raising it admits waiting ones at once.
pub(crate) fn set(limit: Option<usize>) {
    match limit {
        Some(limit) => {
            pool().resize_for(limit, LimitCause::Reload);
            ENABLED.store(true, Ordering::SeqCst);
        }
        None => {
            ENABLED.store(false, Ordering::SeqCst);
            // Calls already waiting for the ceiling are let through.
            if let Some(pool) = POOL.get() {
                pool.resize_for(crate::MAX_SLOTS, LimitCause::Reload);
            }
        }
    }
}

/// The ceiling in force, if any.
pub fn limit() -> Option<usize> {
    ENABLED.load(Ordering::SeqCst).then(|| pool().size())
}

/// The ceiling pool's stats (its `running` is the number of top-level group
/// calls running), if a ceiling is set.
pub fn stats() -> Option<Stats> {
    ENABLED.load(Ordering::SeqCst).then(|| pool().stats())
}

#[inline]
pub(crate) fn core_if_enabled() -> Option<&'static Core> {
    ENABLED.load(Ordering::Relaxed).then(|| pool().core())
}

/// A ceiling slot owned by a blocking job (released on the executor's thread).
pub(crate) async fn acquire_owned() -> Option<OwnedSlot> {
    core_if_enabled()?;
    OwnedSlot::acquire(pool().core_arc(), 0, Mode::Wait)
        .await
        .ok()
}

/// A group call, gated by the ceiling if one is set when it is made.
///
/// Without a ceiling it adds one pointer to the call's future and, on its
/// path, one check per poll and one at its drop; with one, its ceiling slot's
/// state is boxed (one allocation per call), so that calls of applications
/// without a ceiling stay small.
///
/// (Written without pin-project-lite: its `PinnedDrop` is an out-of-line call
/// on every drop, which this type's inline `Drop` avoids. No field is ever
/// handed out pinned except `work`, projected in `poll`.)
pub struct Ceilinged<F> {
    // Dropped in place by `drop`, inside the ceiling slot's frame while it
    // is held (as a pool call does with its own slot). Structurally pinned.
    work: ManuallyDrop<F>,
    // Dropped by hand, after `work` (only if there is one).
    ceiling: ManuallyDrop<Option<Pin<Box<Acquire<&'static Core>>>>>,
}

impl<F> Drop for Ceilinged<F> {
    #[inline]
    fn drop(&mut self) {
        match self.ceiling.as_mut() {
            None => {
                // Safety: `work` is dropped once, in place, and never used
                // again.
                unsafe { ManuallyDrop::drop(&mut self.work) }
            }
            Some(_) => self.drop_gated(),
        }
    }
}

impl<F> Ceilinged<F> {
    /// `drop` of a call that took (or waits for) a ceiling slot.
    #[cold]
    fn drop_gated(&mut self) {
        if let Some(ceiling) = self.ceiling.as_mut() {
            // Safety: `self` is pinned (it is only ever used pinned) and is
            // being dropped in place: `work` is dropped in place, once.
            unsafe {
                ceiling
                    .as_mut()
                    .drop_work(Pin::new_unchecked(&mut self.work))
            };
        }
        // Safety: dropped once, after `work`, and never used again.
        unsafe { ManuallyDrop::drop(&mut self.ceiling) }
    }
}

impl<F: Future> Ceilinged<F> {
    /// The call `make` builds, gated by the ceiling if one is set now.
    ///
    /// The order is: the group's pool (a first use reads the configuration,
    /// which may set the ceiling), then the ceiling decision, then the work.
    /// So callers take the pool before calling this, and `make` only builds
    /// the work — after the ceiling is decided, so that it is built in
    /// place: a work future built first had to be kept aside across that
    /// decision and copied in, twice, on every call.
    #[inline]
    pub(crate) fn new(make: impl FnOnce() -> F) -> Self {
        let ceiling =
            core_if_enabled().map(|core| Box::pin(Acquire::new(core, 0, Mode::Wait, Form::Submit)));
        Ceilinged {
            ceiling: ManuallyDrop::new(ceiling),
            work: ManuallyDrop::new(make()),
        }
    }
}

impl<F: Future> Future for Ceilinged<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Safety: `work` is structurally pinned (never moved out; dropped in
        // place); `ceiling` is a box, not pinned through `self`.
        let this = unsafe { self.get_unchecked_mut() };
        let work = unsafe { Pin::new_unchecked(&mut *this.work) };
        let Some(ceiling) = this.ceiling.as_mut() else {
            return work.poll(cx);
        };
        if let Err(rejected) = ready!(ceiling.as_mut().poll_acquire(cx)) {
            unreachable!("the ceiling pool never rejects: {rejected}");
        }
        let out = ready!(ceiling.as_mut().run_work(|| work.poll(cx)));
        ceiling.as_mut().finish();
        Poll::Ready(out)
    }
}

impl<F> fmt::Debug for Ceilinged<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ceilinged").finish_non_exhaustive()
    }
}

/// Runs sync work under the ceiling, if one is set.
pub(crate) fn run<T>(f: impl FnOnce() -> T) -> T {
    match core_if_enabled() {
        None => f(),
        Some(_) => match pool().run_call(0, Mode::Wait, f) {
            Ok(out) => out,
            Err(rejected) => unreachable!("the ceiling pool never rejects: {rejected}"),
        },
    }
}

/// Runs a blocking job's work under the ceiling slot it was given, if any.
pub(crate) fn run_owned<T>(slot: Option<OwnedSlot>, f: impl FnOnce() -> T) -> T {
    match slot {
        None => f(),
        Some(slot) => match slot.run(f) {
            Ok(out) => out,
            Err(payload) => std::panic::resume_unwind(payload),
        },
    }
}
