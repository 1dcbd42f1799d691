//! The call forms, all on one admission pipeline ([`acquire`]): async calls
//! ([`submit`]), sync callers that park ([`park`]), blocking closures on an
//! executor ([`blocking`]), calls spawned onto tokio ([`spawn`]), and slots held
//! by a guard ([`permit`]).

pub(crate) mod acquire;
pub(crate) mod blocking;
pub(crate) mod held;
pub(crate) mod park;
pub(crate) mod permit;
#[cfg(feature = "tokio")]
pub(crate) mod spawn;
pub(crate) mod submit;

/// Which form a call takes: the call spans of feature `tracing` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
pub(crate) enum Form {
    /// `submit` and its variants: async work polled in the caller's task.
    Submit,
    /// `Pool::spawn`: async work on a task of its own.
    #[cfg(feature = "tokio")]
    Spawn,
    /// `run`: sync work on the calling thread.
    Run,
    /// `submit_blocking`: a closure on the blocking executor.
    Blocking,
    /// `acquire`: a slot held by a permit.
    Permit,
}

/// A unit of the tokio task's cooperative budget (`tokio::task::coop`), for
/// a call that is answered at once without a slot (turned away): `Pending`
/// (the task is woken once it has yielded) if none is left. Tokio's own
/// resources charge each operation the same way; this keeps a task that
/// retries a paused, closed or full pool in a loop that never waits from
/// spinning for good on a current-thread runtime, where the task that would
/// resume the pool or free a slot could otherwise never run.
///
/// `None` where nothing is charged: outside a tokio task, without feature
/// `tokio`, and for a poll with [`answer_now`]'s waker (a sync caller's, a
/// `try_` form's or a spawn's attempt on the caller's thread, which must be
/// answered at once). Admissions are never charged: the hot path stays as
/// it is.
pub(crate) fn budget(cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Budget>> {
    #[cfg(feature = "tokio")]
    if !cx.waker().will_wake(answer_now()) {
        return tokio::task::coop::poll_proceed(cx).map(|unit| Some(Budget(unit)));
    }
    let _ = cx;
    std::task::Poll::Ready(None)
}

/// [`budget`]'s unit for a call that is answered now: `Ready` (the unit
/// spent) once its task may answer it, `Pending` until the task has yielded.
pub(crate) fn charge(cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
    budget(cx).map(Budget::spend)
}

/// Waits until its task may answer a call it turned away (see [`charge`]):
/// for an `async fn` that has decided a rejection, which it keeps across
/// the wait.
pub(crate) async fn within_budget() {
    std::future::poll_fn(charge).await
}

/// A waker that does nothing, for a call's attempt that must be answered at
/// once (a sync caller's first try, a `try_` form, a spawn's queue position
/// taken on the caller's thread): [`budget`] charges nothing to a poll with
/// it. One `static`, so that it is told apart by address (`will_wake`):
/// `Waker::noop()` is a constant, of which each codegen unit may have a
/// copy at an address of its own.
pub(crate) fn answer_now() -> &'static std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable, Waker};
    const fn raw() -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(|_| raw(), |_| {}, |_| {}, |_| {});
    // Safety: every function of the vtable ignores the (null) data pointer,
    // and does nothing (`clone` makes the same waker).
    static WAKER: Waker = unsafe { Waker::from_raw(raw()) };
    &WAKER
}

/// See [`budget`].
pub(crate) struct Budget(#[cfg(feature = "tokio")] tokio::task::coop::RestoreOnPending);

impl Budget {
    /// The call was answered: its unit (if it took one) is spent.
    pub(crate) fn spend(unit: Option<Self>) {
        #[cfg(feature = "tokio")]
        if let Some(unit) = unit {
            unit.0.made_progress();
        }
        #[cfg(not(feature = "tokio"))]
        let _ = unit;
    }
}
