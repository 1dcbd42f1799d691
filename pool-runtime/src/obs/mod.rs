//! The hooks behind features `tracing` and `metrics` (what they report is
//! documented in [`observe`](crate::observe)). Implementation details.
//!
//! Three rules keep them cheap and safe:
//!
//! * **Nothing under the pool lock.** A subscriber or a recorder is user
//!   code, and a pool's own lock is never held while user code runs: what
//!   the core decides under its lock (a limit change, an adaptive window) is
//!   kept in a [`Deferred`] declared before the lock guard, and reported
//!   when it drops, after the lock is released. Everything about a single
//!   call is reported by the call itself ([`Call`]), which never holds the
//!   lock.
//! * **Nothing for nobody.** A call's span is created only if a subscriber
//!   is interested (`tracing::enabled!`); a disabled span records nothing
//!   and enters nothing. The clock is read only for an enabled span or while
//!   call timing is on ([`observe::time_calls`](crate::observe::time_calls)).
//!   Metric handles are registered once per pool, when it is built; without
//!   a recorder they are no-ops (one branch each).
//! * **Gauges move by differences**, never by `set`: reports made after
//!   the lock may arrive out of order, and differences add up to the right
//!   value whatever the order (and across pools that share a name).

use crate::admission::core::{Core, Outcome};
use crate::call::Form;
use crate::pool::rejected::Rejected;
use crate::scale::adaptive::WindowReport;
use crate::scale::LimitCause;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

#[cfg(feature = "metrics")]
pub(crate) mod meter;
#[cfg(feature = "tracing")]
pub(crate) mod trace;

/// The label of pools built without a name.
pub(crate) const UNNAMED: &str = "(unnamed)";

/// A pool's reporting: its name, and its metric handles.
pub(crate) struct Observer {
    #[cfg(feature = "tracing")]
    pool: Arc<str>,
    #[cfg(feature = "metrics")]
    meter: meter::Meter,
}

impl Observer {
    /// The reporting of a pool named `name` (or not) starting at `limit`.
    pub(crate) fn new(name: Option<&Arc<str>>, limit: usize, adaptive: bool) -> Self {
        let pool: Arc<str> = name.cloned().unwrap_or_else(|| Arc::from(UNNAMED));
        #[cfg(not(feature = "metrics"))]
        let _ = (limit, adaptive);
        Observer {
            #[cfg(feature = "metrics")]
            meter: meter::Meter::new(&pool, limit, adaptive),
            #[cfg(feature = "tracing")]
            pool,
        }
    }

    /// The limit moved `from` → `to`, for `cause`.
    pub(crate) fn limit_changed(&self, from: usize, to: usize, cause: LimitCause) {
        if from == to {
            return;
        }
        #[cfg(feature = "tracing")]
        trace::limit_changed(&self.pool, from, to, cause);
        #[cfg(feature = "metrics")]
        self.meter.limit_changed(from, to);
        #[cfg(not(feature = "tracing"))]
        let _ = cause;
    }

    /// An adaptive window closed.
    pub(crate) fn window(&self, report: &WindowReport) {
        #[cfg(feature = "tracing")]
        trace::window(&self.pool, report);
        #[cfg(feature = "metrics")]
        self.meter.window(report);
    }

    /// A slot of the pool was freed (a call that held one ended).
    #[inline]
    pub(crate) fn freed(&self) {
        #[cfg(feature = "metrics")]
        self.meter.running(-1.0);
    }

    /// The pool (its core) goes away at `limit`: its share of the gauges goes
    /// with it.
    #[cfg(feature = "metrics")]
    pub(crate) fn retire(&self, limit: usize) {
        self.meter.limit_changed(limit, 0);
    }

    /// Whether calls are timed (for the histograms) right now.
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        #[cfg(feature = "metrics")]
        return crate::observe::times_calls();
        #[cfg(not(feature = "metrics"))]
        false
    }
}

/// What an operation under the pool lock has to report, reported when this
/// drops: declare it before the lock guard, so it drops after the lock is
/// released.
pub(crate) struct Deferred<'a> {
    obs: &'a Observer,
    limit: Option<(usize, usize, LimitCause)>,
    window: Option<WindowReport>,
}

impl<'a> Deferred<'a> {
    pub(crate) fn new(obs: &'a Observer) -> Self {
        Deferred {
            obs,
            limit: None,
            window: None,
        }
    }

    /// The limit moves `from` → `to` (at most once per operation).
    pub(crate) fn limit(&mut self, from: usize, to: usize, cause: LimitCause) {
        self.limit = Some((from, to, cause));
    }

    /// An adaptive window closed.
    pub(crate) fn window(&mut self, report: Option<WindowReport>) {
        self.window = report;
    }
}

impl Drop for Deferred<'_> {
    fn drop(&mut self) {
        // The window first: it says why the limit moves.
        if let Some(report) = self.window.take() {
            self.obs.window(&report);
        }
        if let Some((from, to, cause)) = self.limit.take() {
            self.obs.limit_changed(from, to, cause);
        }
    }
}

/// The call waits in the queue (counted in the `waiting` gauge).
const WAITING: u8 = 1;
/// `stamp` holds a time.
const STAMPED: u8 = 2;

/// A call's own reporting, kept in its [`Acquire`](crate::call::acquire::Acquire).
///
/// Its fast path (a call admitted at its first poll, with no subscriber
/// interested and timing off) touches one atomic load per feature and the
/// metric handles' no-op branches.
pub(crate) struct Call {
    /// The call's span, if a subscriber wanted one.
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
    /// Clock nanoseconds: when the call started waiting, then when it was
    /// admitted (if `STAMPED`).
    stamp: u64,
    flags: u8,
    form: Form,
}

impl Call {
    #[inline]
    pub(crate) fn new(form: Form) -> Self {
        Call {
            #[cfg(feature = "tracing")]
            span: None,
            stamp: 0,
            flags: 0,
            form,
        }
    }

    /// The call reached the pool (its first poll): its span starts, if a
    /// subscriber is interested.
    #[inline]
    pub(crate) fn start(&mut self, core: &Core, weight: i64) {
        #[cfg(feature = "tracing")]
        if trace::calls_wanted() {
            self.span = trace::call_span(&core.observer().pool, self.form, weight);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (core, weight, self.form);
    }

    /// The call's span, if it has one: a handle to enter while the call's
    /// admission runs.
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn span(&self) -> Option<tracing::Span> {
        self.span.clone()
    }

    /// Reports a poll of an undecided call (`out`), inside its span: it waits
    /// (`Pending`), was admitted (`nested`: under its parent's slot), or was
    /// turned away.
    #[inline]
    pub(crate) fn polled(&mut self, core: &Core, out: &Poll<Result<(), Rejected>>, nested: bool) {
        if let (Poll::Ready(Ok(())), 0) = (out, self.flags & WAITING) {
            // Admitted at its first poll (the uncontended call).
            #[cfg(feature = "metrics")]
            if !nested {
                core.observer().meter.running(1.0);
            }
            if self.traced() || core.observer().times_calls() {
                self.admitted(core, None, nested);
            }
            return;
        }
        self.polled_slow(core, out, nested);
    }

    /// What the fast path of [`polled`](Call::polled) does not cover.
    #[cold]
    fn polled_slow(&mut self, core: &Core, out: &Poll<Result<(), Rejected>>, nested: bool) {
        match out {
            Poll::Pending => {
                if self.flags & WAITING == 0 {
                    self.flags |= WAITING;
                    #[cfg(feature = "metrics")]
                    core.observer().meter.waiting(1.0);
                    if self.traced() || core.observer().times_calls() {
                        self.stamp = core.now_nanos();
                        self.flags |= STAMPED;
                    }
                }
            }
            Poll::Ready(Ok(())) => {
                let queued_at = self.left_queue(core);
                #[cfg(feature = "metrics")]
                if !nested {
                    core.observer().meter.running(1.0);
                }
                self.admitted(core, queued_at, nested);
            }
            Poll::Ready(Err(reason)) => {
                self.left_queue(core);
                self.rejected(core, *reason);
            }
        }
    }

    /// Whether the call has a span.
    #[inline]
    fn traced(&self) -> bool {
        #[cfg(feature = "tracing")]
        return self.span.is_some();
        #[cfg(not(feature = "tracing"))]
        false
    }

    /// Enters the call's span, if it has one (for its work's polls).
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        self.span.as_ref().map(tracing::Span::enter)
    }

    /// Leaves the `waiting` gauge, if counted in it; returns when it started
    /// waiting, if stamped.
    fn left_queue(&mut self, core: &Core) -> Option<u64> {
        if self.flags & WAITING == 0 {
            return None;
        }
        self.flags &= !WAITING;
        #[cfg(feature = "metrics")]
        core.observer().meter.waiting(-1.0);
        #[cfg(not(feature = "metrics"))]
        let _ = core;
        (self.flags & STAMPED != 0).then_some(self.stamp)
    }

    /// Admitted, after waiting since `queued_at` (if stamped): records the
    /// wait and stamps the admission, if the call is traced or timed.
    #[cold]
    fn admitted(&mut self, core: &Core, queued_at: Option<u64>, nested: bool) {
        self.flags &= !STAMPED;
        let timed = core.observer().times_calls();
        if !(timed || self.traced()) {
            return;
        }
        // A call admitted at its first poll did not wait: no clock read.
        let now = (queued_at.is_some() || (timed && !nested)).then(|| core.now_nanos());
        let waited = match (queued_at, now) {
            (Some(from), Some(now)) => Duration::from_nanos(now.saturating_sub(from)),
            _ => Duration::ZERO,
        };
        #[cfg(feature = "tracing")]
        if let Some(span) = &self.span {
            trace::admitted(span, waited, nested);
        }
        if timed {
            #[cfg(feature = "metrics")]
            core.observer().meter.wait_time(waited);
            if let (Some(now), false) = (now, nested) {
                self.stamp = now;
                self.flags |= STAMPED;
            }
        }
    }

    fn rejected(&mut self, core: &Core, reason: Rejected) {
        #[cfg(feature = "tracing")]
        trace::rejected(&core.observer().pool, self.span.as_ref(), reason);
        #[cfg(feature = "metrics")]
        core.observer().meter.rejected(reason);
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        let _ = (core, reason);
    }

    /// The call goes away while it waits (`closed`: after an aborting close
    /// had turned it away, which it never saw).
    pub(crate) fn dropped_waiting(&mut self, core: &Core, closed: bool) {
        self.left_queue(core);
        if closed {
            self.rejected(core, Rejected::Closed);
        } else {
            self.detach().ended(core, Outcome::Cancelled);
        }
    }

    /// The call was handed a slot (`own`, or its parent's) just as it went
    /// away: it ends at once.
    pub(crate) fn dropped_admitted(&mut self, core: &Core, own: bool) {
        self.left_queue(core);
        #[cfg(feature = "metrics")]
        if own {
            core.observer().meter.running(1.0);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = own;
    }

    /// The call leaves its `Acquire` holding its slot: what ends it
    /// ([`held::end_call`](crate::call::held::end_call)) reports it.
    #[inline]
    pub(crate) fn detach(&mut self) -> Held {
        Held {
            #[cfg(feature = "tracing")]
            span: self.span.take(),
            #[cfg(feature = "metrics")]
            admitted_at: (self.flags & STAMPED != 0).then_some(self.stamp),
        }
    }
}

/// The reporting of a call that holds a slot, wherever the slot goes.
pub(crate) struct Held {
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
    /// When it was admitted, if timed.
    #[cfg(feature = "metrics")]
    admitted_at: Option<u64>,
}

impl Held {
    /// The call's span, if it has one (a blocking job enters it on the
    /// executor's thread).
    #[cfg(feature = "tracing")]
    pub(crate) fn span(&self) -> Option<&tracing::Span> {
        self.span.as_ref()
    }

    /// The call ended with `outcome`.
    #[inline]
    pub(crate) fn ended(&self, core: &Core, outcome: Outcome) {
        #[cfg(feature = "tracing")]
        if let Some(span) = &self.span {
            trace::ended(span, outcome);
        }
        #[cfg(feature = "metrics")]
        {
            let meter = &core.observer().meter;
            meter.ended(outcome);
            if let Some(at) = self.admitted_at {
                meter.run_time(Duration::from_nanos(core.now_nanos().saturating_sub(at)));
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (core, outcome);
    }
}

/// The caller's tracing context, captured when a blocking call is submitted
/// and re-entered on the executor's thread around the job.
#[cfg(feature = "tracing")]
pub(crate) struct Caller {
    context: Option<(tracing::Dispatch, tracing::Span)>,
}

#[cfg(feature = "tracing")]
impl Caller {
    /// The current subscriber and span (nothing without a subscriber).
    #[inline]
    pub(crate) fn current() -> Self {
        Caller {
            context: trace::caller(),
        }
    }

    /// Runs `f` with the caller's subscriber as this thread's default and
    /// inside the caller's span.
    #[inline]
    pub(crate) fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        match self.context {
            Some((dispatch, span)) => {
                tracing::dispatcher::with_default(&dispatch, || span.in_scope(f))
            }
            None => f(),
        }
    }
}
