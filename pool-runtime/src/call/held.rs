//! How a call that held a slot ends, whatever form it took (an async call's
//! wrapper, a blocking job on an executor thread): count the outcome, then
//! release the slot, return the borrow, or leave the slot to a nested call
//! that still runs under it.

use crate::admission::core::{Core, LendReturned, Outcome};
use crate::admission::lend::Lend;
use crate::scale::adaptive::Verdict;
use std::sync::Arc;

/// A slot taken out of an [`Acquire`](crate::call::acquire::Acquire) to be released elsewhere (a blocking
/// job's, on the executor's thread).
pub(crate) struct Detached {
    /// `None`: a slot of the pool; otherwise the lend it runs under.
    pub(crate) under: Option<Arc<Lend>>,
    /// Admission time in clock nanoseconds (adaptive pools).
    pub(crate) admitted_at: u64,
    /// What features `tracing` and `metrics` report when the call ends.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    pub(crate) obs: crate::obs::Held,
}

impl Detached {
    /// Ends the call: reports it, then [`end_call`].
    #[inline]
    pub(crate) fn end(
        self,
        core: &Core,
        outcome: Outcome,
        verdict: Verdict,
        own: Option<Arc<Lend>>,
    ) {
        let Detached {
            under,
            admitted_at,
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            obs,
        } = self;
        // Reported once the slot is released (also if handing it on
        // unwinds: a waker's panic): see `end_call`.
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        let _reported = crate::obs::Reported::new(obs, core, outcome);
        end_call(core, outcome, verdict, under, admitted_at, own);
    }
}

/// Ends a running call that held a slot (`under`: `None`, or the lend it ran
/// under) since `admitted_at`: counts `outcome`, then releases the slot (or
/// returns the borrow) — unless a call nested in its work still runs under
/// the slot (`own`, the call's lend, is borrowed), which then releases it
/// when it ends.
#[inline(always)]
pub(crate) fn end_call(
    core: &Core,
    outcome: Outcome,
    verdict: Verdict,
    under: Option<Arc<Lend>>,
    admitted_at: u64,
    own: Option<Arc<Lend>>,
) {
    core.count(outcome);
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    let _reported = crate::admission::core::EndReported(core, outcome);
    // What the call's ending tells an adaptive pool: a completed call's
    // verdict; an overload verdict also when the call was cancelled after
    // it (a response that said "overloaded" and whose body was dropped
    // unread); nothing from a panic or any other cancelled call.
    let verdict = match outcome {
        Outcome::Completed => verdict,
        Outcome::Cancelled if verdict == Verdict::Overload => verdict,
        Outcome::Panicked | Outcome::Cancelled => Verdict::Ignore,
    };
    if let Some(lend) = own {
        if !lend.lender_done() {
            // The borrower takes over the slot (and `under`, through the
            // lend's `up`): one fewer call shares it.
            core.nested_ended();
            if verdict == Verdict::Overload {
                core.overloaded(admitted_at);
            }
            return;
        }
        crate::admission::lend::finished(lend);
    }
    match under {
        Some(lend) => {
            // A nested call's overload is the server's as much as a call's
            // of its own slot (its latency is its parent's business). Fed
            // first: handing the slot on wakes a waker, which may panic.
            if verdict == Verdict::Overload {
                core.overloaded(admitted_at);
            }
            if core.return_lend(&lend) == LendReturned::Ended {
                core.nested_ended();
            }
        }
        None => core.release_slot(admitted_at, verdict),
    }
}
