//! Waiting for a slot: the state machine every kind of call shares (async,
//! sync, blocking, spawned). Implementation details.
//!
//! An [`Acquire`] owns its waiter node and, once admitted, the slot: dropping
//! it in any state releases what it holds (a queue position, a slot) and
//! counts the outcome, which is what makes every call cancel-safe.

use crate::adaptive::Verdict;
use crate::core::{Core, Enqueued, Mode, Outcome};
use crate::nested;
use crate::rejected::Rejected;
use crate::timer::Sleep;
use crate::waiter::{status, Waiter};
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Waits for a slot of the pool behind `R` (a `&Core` or an `Arc<Core>`).
pub(crate) struct Acquire<R: Deref<Target = Core>> {
    core: R,
    node: Waiter,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<R: Deref<Target = Core>> Acquire<R> {
    pub(crate) fn new(core: R, weight: i64, mode: Mode) -> Self {
        let node = Waiter::with_status(match mode {
            Mode::Reject => status::START_REJECT,
            Mode::Wait => status::START_WAIT,
        });
        // Safety: the node is not linked.
        unsafe { node.set_weight(weight) };
        Acquire {
            core,
            node,
            deadline: None,
        }
    }

    /// Waits for admission. Once admitted (or nested) it keeps returning
    /// `Ready(Ok(()))`; after a rejection, `Ready(Err(_))` again.
    pub(crate) fn poll_acquire(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Rejected>> {
        // Safety: nothing is moved out; the node stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        let node = NonNull::from(&this.node);
        let core: &Core = &this.core;
        loop {
            match this.node.status() {
                s @ (status::START_REJECT | status::START_WAIT) => {
                    let mode = if s == status::START_WAIT {
                        Mode::Wait
                    } else {
                        Mode::Reject
                    };
                    if nested::holds(core) {
                        this.node.set_status(status::NESTED);
                        return Poll::Ready(Ok(()));
                    }
                    if core.try_acquire_fast() {
                        this.node.admitted(core);
                        return Poll::Ready(Ok(()));
                    }
                    if let Some(rejected) = core.reject_fast(mode) {
                        this.node.set_status(status::DONE);
                        return Poll::Ready(Err(rejected));
                    }
                    // Safety: the node is pinned inside `self`, unlinked, and
                    // `Drop` cancels it while it is linked.
                    let weight = unsafe { this.node.weight() };
                    match unsafe { core.enqueue(node, weight, mode, cx.waker()) } {
                        Enqueued::Admitted => {
                            this.node.admitted(core);
                            return Poll::Ready(Ok(()));
                        }
                        Enqueued::Rejected(rejected) => {
                            this.node.set_status(status::DONE);
                            return Poll::Ready(Err(rejected));
                        }
                        Enqueued::Waiting => {
                            let timeout = core.admission_timeout().filter(|_| mode == Mode::Reject);
                            let Some(timeout) = timeout else {
                                return Poll::Pending;
                            };
                            // Loop once more to register with the new deadline.
                            this.deadline = Some(Sleep::new(timeout, core.uses_tokio_time()));
                        }
                    }
                }
                status::QUEUED | status::HELD => {
                    if let Some(deadline) = this.deadline.as_mut() {
                        if deadline.as_mut().poll(cx).is_ready() {
                            this.deadline = None;
                            // Safety: pinned; `give_up` moves nothing.
                            let pinned = unsafe { Pin::new_unchecked(this) };
                            return Poll::Ready(pinned.give_up(Rejected::TimedOut));
                        }
                    }
                    // Safety: the node was linked by `enqueue` and is alive.
                    let seen = unsafe { core.refresh_waker(node, cx.waker()) };
                    if seen == status::QUEUED || seen == status::HELD {
                        return Poll::Pending;
                    }
                }
                status::ADMITTED => {
                    this.deadline = None;
                    this.node.admitted(core);
                    return Poll::Ready(Ok(()));
                }
                status::CLOSED => {
                    this.deadline = None;
                    this.node.set_status(status::DONE);
                    return Poll::Ready(Err(Rejected::Closed));
                }
                status::RUNNING | status::POLLING | status::NESTED | status::NESTED_POLLING => {
                    return Poll::Ready(Ok(()));
                }
                _ => return Poll::Ready(Err(Rejected::Closed)),
            }
        }
    }

    /// Stops waiting (the deadline passed): leaves the queue and is turned away
    /// for `reason`, unless it was admitted (or closed) in the meantime.
    pub(crate) fn give_up(self: Pin<&mut Self>, reason: Rejected) -> Result<(), Rejected> {
        // Safety: nothing is moved out.
        let this = unsafe { self.get_unchecked_mut() };
        match this.node.status() {
            status::QUEUED | status::HELD | status::ADMITTED => {
                // Safety: the node was linked by `enqueue` and is in place.
                if unsafe { this.core.cancel(NonNull::from(&this.node), Some(reason)) } {
                    this.node.admitted(&this.core);
                    return Ok(());
                }
                let closed = this.node.status() == status::CLOSED;
                if !closed && reason == Rejected::TimedOut {
                    this.core.record_timeout();
                }
                this.node.set_status(status::DONE);
                Err(if closed { Rejected::Closed } else { reason })
            }
            status::CLOSED => {
                this.node.set_status(status::DONE);
                Err(Rejected::Closed)
            }
            status::RUNNING | status::POLLING | status::NESTED | status::NESTED_POLLING => Ok(()),
            _ => Err(reason),
        }
    }

    /// Runs `f` as the admitted call's work: with the reentrancy frame pushed,
    /// and marked so that a panic out of `f` is counted as one.
    #[inline]
    pub(crate) fn run_work<T>(self: Pin<&mut Self>, f: impl FnOnce() -> T) -> T {
        let node = &self.node;
        let (polling, idle) = match node.status() {
            status::NESTED | status::NESTED_POLLING => (status::NESTED_POLLING, status::NESTED),
            _ => (status::POLLING, status::RUNNING),
        };
        node.set_status(polling);
        let out = nested::enter(&self.core, f);
        node.set_status(idle);
        out
    }

    /// The work is done: release the slot (or count the nested call).
    #[inline]
    pub(crate) fn finish(self: Pin<&mut Self>) {
        self.settle(Outcome::Completed, Verdict::Success);
    }

    /// The work is done and judged (for adaptive pools).
    pub(crate) fn finish_judged(self: Pin<&mut Self>, verdict: Verdict) {
        self.settle(Outcome::Completed, verdict);
    }

    /// Gives up the slot without releasing it, for a caller that takes over
    /// its release (a blocking job). Returns whether the call was nested, and
    /// its admission stamp (adaptive pools).
    pub(crate) fn detach(self: Pin<&mut Self>) -> (bool, u64) {
        let nested = matches!(self.node.status(), status::NESTED | status::NESTED_POLLING);
        // Safety: the node is unlinked once admitted.
        let stamp = unsafe { self.node.weight() } as u64;
        self.node.set_status(status::DONE);
        (nested, stamp)
    }

    #[inline]
    fn settle(&self, outcome: Outcome, verdict: Verdict) {
        match self.node.status() {
            status::RUNNING | status::POLLING => {
                self.node.set_status(status::DONE);
                if self.core.is_adaptive() {
                    // Safety: the node is unlinked once admitted.
                    let admitted_at = unsafe { self.node.weight() } as u64;
                    let verdict = match outcome {
                        Outcome::Completed => verdict,
                        Outcome::Panicked | Outcome::Cancelled => Verdict::Ignore,
                    };
                    self.core.release_sampled(outcome, admitted_at, verdict);
                } else {
                    self.core.release(outcome);
                }
            }
            status::NESTED | status::NESTED_POLLING => {
                self.node.set_status(status::DONE);
                self.core.count(outcome);
            }
            _ => {}
        }
    }
}

impl<R: Deref<Target = Core>> Drop for Acquire<R> {
    fn drop(&mut self) {
        match self.node.status() {
            status::QUEUED | status::HELD | status::ADMITTED | status::CLOSED => {
                // Safety: the node was linked by `enqueue` and is still in place.
                let admitted = unsafe { self.core.cancel(NonNull::from(&self.node), None) };
                if admitted {
                    self.core.release(Outcome::Cancelled);
                }
            }
            status::POLLING | status::NESTED_POLLING => {
                self.settle(Outcome::Panicked, Verdict::Ignore)
            }
            _ => self.settle(Outcome::Cancelled, Verdict::Ignore),
        }
    }
}
