//! The future of an async call: wait for a slot, then poll the work in the
//! caller's own task while holding it.

use crate::admission::core::{Core, Mode};
use crate::call::acquire::Acquire;
use crate::call::Form;
use crate::pool::rejected::Rejected;
use crate::scale::adaptive::Verdict;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

/// The work inside a pinned `ManuallyDrop`, pinned. pin-project-lite projects
/// to the `ManuallyDrop` field; it cannot see through the wrapper (which the
/// calls need, to drop their work in place, inside the call's frame).
#[inline]
pub(crate) fn pinned_work<W>(work: Pin<&mut ManuallyDrop<W>>) -> Pin<&mut W> {
    // Safety: `ManuallyDrop<W>` is a transparent wrapper: the `W` inside is as
    // pinned as the wrapper, and nothing moves it out.
    unsafe { work.map_unchecked_mut(|work| &mut **work) }
}

/// How a finished call's output is judged for an adaptive pool.
pub(crate) trait Judge<T> {
    /// The verdict is always `Success`: no need to run the judge as work.
    const PLAIN: bool = false;
    fn judge(self, out: &T) -> Verdict;
}

/// Every call that returns succeeded (pools that are not adaptive ignore it).
pub(crate) struct Succeeded;

impl<T> Judge<T> for Succeeded {
    const PLAIN: bool = true;
    #[inline]
    fn judge(self, _: &T) -> Verdict {
        Verdict::Success
    }
}

/// A user's judge (`submit_judged`).
pub(crate) struct JudgeFn<J>(pub(crate) J);

impl<T, J: FnOnce(&T) -> Verdict> Judge<T> for JudgeFn<J> {
    #[inline]
    fn judge(self, out: &T) -> Verdict {
        (self.0)(out)
    }
}

pin_project! {
    /// A call's work guarded by a slot of the pool behind `R`.
    pub(crate) struct Guarded<R: Deref<Target = Core>, F, J = Succeeded> {
        // Dropped in place, as soon as it completes or by `drop`: before the
        // slot is handed on, so whatever it owns (a connection, a buffer) goes
        // first; and when dropped while running (cancelled), inside the call's
        // frame, so a `Drop` in it that calls the same pool runs under this slot.
        #[pin]
        work: ManuallyDrop<F>,
        // Taken when the work completes; dropped by `drop` otherwise. (Whether
        // it was is the call's `finished` flag, kept in its node's spare bits.)
        judge: ManuallyDrop<J>,
        #[pin]
        acquire: Acquire<R>,
    }

    impl<R: Deref<Target = Core>, F, J> PinnedDrop for Guarded<R, F, J> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !this.acquire.is_finished() {
                /// Drops the judge when it goes: after the work, also when
                /// the work's `Drop` panics (and the work goes even if the
                /// judge's would).
                struct Judge<J>(*mut ManuallyDrop<J>);
                impl<J> Drop for Judge<J> {
                    fn drop(&mut self) {
                        // Safety: see below.
                        unsafe { ManuallyDrop::drop(&mut *self.0) }
                    }
                }
                let judge = Judge(std::ptr::from_mut(this.judge));
                // Safety: dropped in place (the pinning guarantee holds).
                let work = unsafe { this.work.get_unchecked_mut() };
                // Both in the call's frame (or once it left the queue): the
                // judge's captures are the user's too, and their `Drop` may
                // call the pool.
                // Safety: `work` and `judge` are dropped once, here, and never
                // used again; `acquire` goes after.
                this.acquire.drop_with(move || {
                    let judge = judge;
                    unsafe { ManuallyDrop::drop(work) };
                    drop(judge);
                });
            }
        }
    }
}

impl<R: Deref<Target = Core>, F: Future> Guarded<R, F> {
    pub(crate) fn new(core: R, weight: i64, mode: Mode, work: F) -> Self {
        Guarded::judged(core, weight, mode, work, Succeeded)
    }

    /// A call that takes a slot of its own even from inside another call's
    /// work (`Pool::spawn`).
    #[cfg(feature = "tokio")]
    pub(crate) fn independent(core: R, weight: i64, work: F) -> Self {
        Guarded {
            work: ManuallyDrop::new(work),
            judge: ManuallyDrop::new(Succeeded),
            acquire: Acquire::new(core, weight, Mode::Reject, Form::Spawn).independent(),
        }
    }
}

impl<R: Deref<Target = Core>, F: Future, J: Judge<F::Output>> Guarded<R, F, J> {
    pub(crate) fn judged(core: R, weight: i64, mode: Mode, work: F, judge: J) -> Self {
        Guarded {
            work: ManuallyDrop::new(work),
            judge: ManuallyDrop::new(judge),
            acquire: Acquire::new(core, weight, mode, Form::Submit),
        }
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn acquire(self: Pin<&mut Self>) -> Pin<&mut Acquire<R>> {
        self.project().acquire
    }
}

impl<R: Deref<Target = Core>, F: Future, J: Judge<F::Output>> Future for Guarded<R, F, J> {
    type Output = Result<F::Output, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut acquire = this.acquire;
        ready!(acquire.as_mut().poll_acquire(cx))?;
        // A call polled again after a panic past its work's end (the work's
        // `Drop` or the judge), caught by the caller, still holds its slot:
        // its work is gone (dropped in place) and must not be polled.
        if acquire.is_finished() {
            polled_after_completion();
        }
        let mut work = this.work;
        let judge_slot = this.judge;
        let mut judge = None;
        let running: &Acquire<R> = &acquire;
        let out = ready!(running.run_work(|| {
            let poll = pinned_work(work.as_mut()).poll(cx);
            if poll.is_ready() {
                // Done: the judge is taken and the work dropped now, in the
                // frame of the poll that completed it (a hand-written future
                // may hold state that a `Drop` calling the same pool needs
                // the slot for), before the slot is handed on, and never
                // again. A `Drop` of the work that panics makes it a call
                // that panicked, not a cancelled one.
                // Safety: `finished` records that both are gone, so `drop`
                // leaves them; the work is dropped in place.
                judge = Some(unsafe { ManuallyDrop::take(judge_slot) });
                running.mark_finished();
                unsafe { ManuallyDrop::drop(work.as_mut().get_unchecked_mut()) };
            }
            poll
        }));
        let Some(judge) = judge else {
            unreachable!("taken when the work completed")
        };
        // A judge that panics is a call that panicked, not a cancelled one.
        let verdict = if J::PLAIN {
            Verdict::Success
        } else {
            acquire.as_mut().run_work(|| judge.judge(&out))
        };
        acquire.finish_judged(verdict);
        Poll::Ready(Ok(out))
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn polled_after_completion() -> ! {
    panic!("a pool call was polled after it completed")
}

pin_project! {
    /// The future returned by [`Pool::submit`](crate::Pool::submit) and
    /// [`Pool::submit_weighted`](crate::Pool::submit_weighted).
    ///
    /// It waits for a slot, then polls the submitted future *in the caller's own
    /// task* while holding the slot, and resolves to that future's output, or to
    /// the [`Rejected`] reason the call was turned away.
    ///
    /// # Cancel safety
    ///
    /// Dropping it at any point loses nothing: while waiting it leaves the queue at
    /// once (`stats().waiting` drops); while running it frees its slot for the
    /// next waiter. Either way the call is counted as cancelled.
    #[must_use = "futures do nothing unless polled"]
    pub struct Submit<'a, F> {
        #[pin]
        inner: Guarded<&'a Core, F>,
    }
}

impl<'a, F: Future> Submit<'a, F> {
    pub(crate) fn new(core: &'a Core, weight: i64, mode: Mode, work: F) -> Self {
        Submit {
            inner: Guarded::new(core, weight, mode, work),
        }
    }
}

impl<F: Future> Future for Submit<'_, F> {
    type Output = Result<F::Output, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for Submit<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of a call that never rejects (see [`Group::submit_wait`](crate::Group::submit_wait)): it waits
    /// through pauses, the waiting bound and the admission timeout.
    #[must_use = "futures do nothing unless polled"]
    pub struct SubmitWait<'a, F> {
        #[pin]
        inner: Guarded<&'a Core, F>,
    }
}

impl<'a, F: Future> SubmitWait<'a, F> {
    pub(crate) fn new(core: &'a Core, weight: i64, work: F) -> Self {
        SubmitWait {
            inner: Guarded::new(core, weight, Mode::Wait, work),
        }
    }
}

impl<F: Future> Future for SubmitWait<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match ready!(self.project().inner.poll(cx)) {
            Ok(out) => Poll::Ready(out),
            // Nothing turns a never-rejecting call away, not even a closed pool.
            Err(rejected) => unreachable!("a never-rejecting call was turned away: {rejected}"),
        }
    }
}

impl<F> fmt::Debug for SubmitWait<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitWait").finish_non_exhaustive()
    }
}
