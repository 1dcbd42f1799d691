//! The application-wide ceiling: an optional limit on the calls running
//! across all groups, set by configuration (`ceiling = N` in the file, or
//! `POOLED_CEILING`) and lifted by leaving it out.
//!
//! While a ceiling is set, every group call takes a ceiling slot before its
//! group's slot; a call its group turns away at once (paused or closed) is
//! turned away before it would wait for the ceiling. A nested call (one made from inside a running group call)
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
use crate::pool::rejected::Rejected;
use crate::pool::stats::Stats;
use crate::pool::Pool;
use crate::scale::LimitCause;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
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

/// The rejection a group's pool (`core`) gives a call of `form` at once,
/// decided before the call waits for the ceiling: a paused or closed group
/// turns its calls away at once, as a pool does, whether or not the ceiling
/// is full (waiting for a ceiling slot first would make them wait, maybe for
/// good, for a rejection known from the start). Counted as the pool counts
/// one (submitted and rejected, reported). `None` without a ceiling (the
/// pool's own admission decides), for a call nested in work of the group
/// (pausing and closing do not turn those away), or if the group would not
/// turn the call away now.
pub(crate) fn turned_away_first(core: &Core, form: Form, weight: i64) -> Option<Rejected> {
    core_if_enabled()?;
    if !(core.is_paused() || core.is_closed()) {
        return None;
    }
    if crate::admission::nested::lend_of(core).is_some() {
        return None;
    }
    let reason = core.reject_fast(Mode::Reject)?;
    core.count_submitted();
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    {
        let mut obs = crate::obs::Call::new(form);
        obs.start(core, || weight);
        obs.rejected(core, reason);
    }
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = (form, weight);
    Some(reason)
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
/// A call that its group turns away at once (paused or closed, see
/// [`turned_away_first`]) is turned away at its first poll, before it would
/// wait for the ceiling.
///
/// (Written without pin-project-lite: its `PinnedDrop` is an out-of-line call
/// on every drop, which this type's inline `Drop` avoids. No field is ever
/// handed out pinned except `work`, projected in `poll`, and the ceiling's
/// `Acquire`, pinned in its box.)
pub struct Ceilinged<F: Future> {
    // Dropped in place by `drop`, inside the ceiling slot's frame while it
    // is held (as a pool call does with its own slot). Structurally pinned.
    work: ManuallyDrop<F>,
    // Dropped by hand, after `work` (only if there is one).
    ceiling: ManuallyDrop<Option<GateBox<F::Output>>>,
}

/// A call's boxed [`Gate`] (only under a ceiling).
type GateBox<O> = Pin<Box<Gate<O>>>;

/// A call's ceiling slot, and what its first poll checks before waiting
/// for it.
struct Gate<O> {
    /// Structurally pinned (the box is).
    acquire: Acquire<&'static Core>,
    /// Taken at the first poll: the group whose rejection comes first.
    first: Option<First<O>>,
}

/// A rejecting group call's group, checked before the call waits for the
/// ceiling (see [`turned_away_first`]).
struct First<O> {
    group: Arc<Core>,
    weight: i64,
    reject: fn(Rejected) -> O,
}

impl<F: Future> Drop for Ceilinged<F> {
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

impl<F: Future> Ceilinged<F> {
    /// `drop` of a call that took (or waits for) a ceiling slot.
    #[cold]
    fn drop_gated(&mut self) {
        if let Some(gate) = self.ceiling.as_mut() {
            // Safety: `self` is pinned (it is only ever used pinned) and is
            // being dropped in place: `work` is dropped in place, once; the
            // gate's `acquire` is not moved out of its pinned box.
            unsafe {
                let acquire = Pin::new_unchecked(&mut gate.as_mut().get_unchecked_mut().acquire);
                acquire.drop_work(Pin::new_unchecked(&mut self.work))
            };
        }
        // Safety: dropped once, after `work`, and never used again.
        unsafe { ManuallyDrop::drop(&mut self.ceiling) }
    }

    /// The call `make` builds, gated by the ceiling if one is set now.
    ///
    /// (The work is built by `make` after the ceiling is decided, so that it
    /// is built in place: a work future built first had to be kept aside
    /// across that decision and copied in, twice, on every call.)
    #[inline]
    pub(crate) fn new(make: impl FnOnce() -> F) -> Self {
        Self::gated(|| None, make)
    }

    #[inline]
    fn gated(first: impl FnOnce() -> Option<First<F::Output>>, make: impl FnOnce() -> F) -> Self {
        let ceiling = core_if_enabled().map(|core| {
            Box::pin(Gate {
                acquire: Acquire::new(core, 0, Mode::Wait, Form::Submit),
                first: first(),
            })
        });
        Ceilinged {
            ceiling: ManuallyDrop::new(ceiling),
            work: ManuallyDrop::new(make()),
        }
    }
}

impl<T, F: Future<Output = Result<T, Rejected>>> Ceilinged<F> {
    /// A rejecting call of the group whose pool is `group` (with `weight`),
    /// built by `make`: under a ceiling, the group's own rejection at once
    /// (paused, closed) comes before the wait for a ceiling slot.
    #[inline]
    pub(crate) fn rejecting(group: &Pool, weight: i64, make: impl FnOnce() -> F) -> Self {
        Self::gated(
            || {
                Some(First {
                    group: group.core_arc(),
                    weight,
                    reject: Err,
                })
            },
            make,
        )
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
        let Some(gate) = this.ceiling.as_mut() else {
            return work.poll(cx);
        };
        // Safety: nothing is moved out of the pinned box; `acquire` is
        // structurally pinned in it.
        let gate = unsafe { gate.as_mut().get_unchecked_mut() };
        if let Some(first) = gate.first.take() {
            if let Some(reason) = turned_away_first(&first.group, Form::Submit, first.weight) {
                return Poll::Ready((first.reject)(reason));
            }
        }
        let mut ceiling = unsafe { Pin::new_unchecked(&mut gate.acquire) };
        if let Err(rejected) = ready!(ceiling.as_mut().poll_acquire(cx)) {
            unreachable!("the ceiling pool never rejects: {rejected}");
        }
        let out = ready!(ceiling.as_mut().run_work(|| work.poll(cx)));
        ceiling.as_mut().finish();
        Poll::Ready(out)
    }
}

impl<F: Future> fmt::Debug for Ceilinged<F> {
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
