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
//! * **A panicking report loses only itself.** Every call into a
//!   subscriber or a recorder goes through [`caught`](crate::unwind::caught): its panic stops
//!   there (the panic hook has reported it), never between two steps of the
//!   pool's bookkeeping.
//! * **Gauges move by differences**, never by `set`: reports made after
//!   the lock may arrive out of order, and differences add up to the right
//!   value whatever the order (and across pools that share a name). A pool
//!   keeps the sum of the limit differences it reported, so that when it
//!   goes away (`Observer::retire`) it takes back exactly its share, even
//!   while a late report is still on its way (which then moves nothing).

use crate::admission::core::{Core, Outcome};
use crate::call::Form;
use crate::pool::rejected::Rejected;
use crate::scale::adaptive::WindowReport;
use crate::scale::LimitCause;
#[cfg(feature = "tracing")]
use crate::unwind::caught;
use std::sync::Arc;
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

    /// A call that held a slot ended with `outcome` (counted by the core,
    /// outside its lock).
    #[inline]
    pub(crate) fn ended(&self, outcome: Outcome) {
        #[cfg(feature = "metrics")]
        self.meter.ended(outcome);
        #[cfg(not(feature = "metrics"))]
        let _ = outcome;
    }

    /// The pool goes away (its core is dropped), or stops reporting under
    /// its name (an isolated group instance whose guard dropped): its share
    /// of the `limit` gauge goes with it, and it moves that gauge no more.
    /// Idempotent: the share taken back is the one the pool reported.
    #[cfg(feature = "metrics")]
    pub(crate) fn retire(&self) {
        self.meter.retire();
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
/// The call is traced (it has a span) or timed: it is reported beyond the
/// counters and gauges. Decided at its first poll.
const LOUD: u8 = 4;

/// Whether a call starting now would be traced or timed: one load of
/// `tracing`'s global level filter and one of the timing switch.
#[inline]
fn loud_now() -> bool {
    #[cfg(feature = "tracing")]
    if trace::calls_wanted() {
        return true;
    }
    #[cfg(feature = "metrics")]
    return crate::observe::times_calls();
    #[cfg(not(feature = "metrics"))]
    false
}

/// A call's own reporting, kept in its [`Acquire`](crate::call::acquire::Acquire)
/// and fed by its admission steps.
///
/// A quiet call (no subscriber wants its span, timing off) costs one check
/// at its first poll and the metric handles' updates (no-ops without a
/// recorder): the `running` gauge when it takes a slot and when the slot is
/// freed, its outcome's counter (both in the core). Everything else — the
/// span, the clock, the `waiting` gauge, rejections — is off that path.
pub(crate) struct Call {
    /// The call's span, if a subscriber wanted one. Boxed: a quiet call's
    /// future carries one pointer for it, not a span, and has no span to
    /// drop (a traced call, which allocates in the subscriber anyway, pays
    /// for the box).
    /// (Dropped by hand: the drop glue of an `Option<Box<_>>` is a call.)
    #[cfg(feature = "tracing")]
    span: std::mem::ManuallyDrop<Option<Box<tracing::Span>>>,
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
            span: std::mem::ManuallyDrop::new(None),
            stamp: 0,
            flags: 0,
            form,
        }
    }

    /// The call reached the pool (its first poll): it is traced or timed if
    /// anyone wants that now.
    #[inline]
    pub(crate) fn start(&mut self, core: &Core, weight: impl FnOnce() -> i64) {
        if loud_now() {
            self.start_loud(core, weight());
        }
    }

    #[cold]
    fn start_loud(&mut self, core: &Core, weight: i64) {
        #[cfg(feature = "tracing")]
        if trace::calls_wanted() {
            *self.span = trace::call_span(&core.observer().pool, self.form, weight).map(Box::new);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (weight, self.form);
        if self.traced() || core.observer().times_calls() {
            self.flags |= LOUD;
        }
    }

    /// The call's span, if it has one (entered around its work's polls).
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn span(&self) -> Option<&tracing::Span> {
        self.span.as_deref()
    }

    /// Whether the call has a span.
    #[inline]
    fn traced(&self) -> bool {
        #[cfg(feature = "tracing")]
        return self.span.is_some();
        #[cfg(not(feature = "tracing"))]
        false
    }

    /// The call was admitted: with a slot of its own (`own`), or under its
    /// parent's.
    #[inline]
    pub(crate) fn admitted(&mut self, core: &Core, own: bool) {
        #[cfg(feature = "metrics")]
        if own {
            core.observer().meter.running(1.0);
        }
        if self.flags & (LOUD | WAITING) != 0 {
            self.admitted_slow(core, own);
        }
    }

    /// Admitted after waiting, or traced or timed: leaves the `waiting`
    /// gauge, records the wait and stamps the admission.
    #[cold]
    fn admitted_slow(&mut self, core: &Core, own: bool) {
        let queued_at = self.left_queue(core);
        if self.flags & LOUD == 0 {
            return;
        }
        self.flags &= !STAMPED;
        let timed = core.observer().times_calls();
        // A call admitted at its first poll did not wait: no clock read.
        let now = (queued_at.is_some() || (timed && own)).then(|| core.now_nanos());
        let waited = match (queued_at, now) {
            (Some(from), Some(now)) => Duration::from_nanos(now.saturating_sub(from)),
            _ => Duration::ZERO,
        };
        #[cfg(feature = "tracing")]
        if let Some(span) = self.span.as_deref() {
            trace::admitted(span, waited, !own);
        }
        if timed {
            #[cfg(feature = "metrics")]
            core.observer().meter.wait_time(waited);
            if let (Some(now), true) = (now, own) {
                self.stamp = now;
                self.flags |= STAMPED;
            }
        }
    }

    /// The call joined the queue.
    #[cold]
    pub(crate) fn waiting(&mut self, core: &Core) {
        if self.flags & WAITING != 0 {
            return;
        }
        self.flags |= WAITING;
        #[cfg(feature = "metrics")]
        core.observer().meter.waiting(1.0);
        if self.flags & LOUD != 0 {
            self.stamp = core.now_nanos();
            self.flags |= STAMPED;
        }
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

    /// The call was turned away for `reason`.
    #[cold]
    pub(crate) fn rejected(&mut self, core: &Core, reason: Rejected) {
        self.left_queue(core);
        #[cfg(feature = "tracing")]
        trace::rejected(&core.observer().pool, self.span.as_deref(), reason);
        #[cfg(feature = "metrics")]
        core.observer().meter.rejected(reason);
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        let _ = (core, reason);
    }

    /// The call goes away while it waits (`closed`: after an aborting close
    /// had turned it away, which it never saw). The core counted it.
    #[cold]
    pub(crate) fn dropped_waiting(&mut self, core: &Core, closed: bool) {
        if closed {
            self.rejected(core, Rejected::Closed);
        } else {
            self.left_queue(core);
            #[cfg(feature = "metrics")]
            core.observer().meter.ended(Outcome::Cancelled);
            // It held no slot: reported at once.
            drop(self.ended_later(core, Outcome::Cancelled));
        }
    }

    /// The call was handed a slot (`own`, or its parent's) just as it went
    /// away: it ends at once.
    #[cold]
    pub(crate) fn dropped_admitted(&mut self, core: &Core, own: bool) {
        self.left_queue(core);
        #[cfg(feature = "metrics")]
        if own {
            core.observer().meter.running(1.0);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = own;
    }

    /// The call ended with `outcome` (the core counts it), reported when
    /// the returned guard drops: declared before the call's slot is
    /// released, so that the report (the span's end and close, the run
    /// time: user code, which may call this very pool) comes after, on
    /// every path out. Only the flag's test is inline: with both features
    /// the reporting no longer fits the inliner's budget, and out of line as
    /// a whole this was a call on every quiet call's path.
    #[inline(always)]
    pub(crate) fn ended_later<'a>(
        &mut self,
        core: &'a Core,
        outcome: Outcome,
    ) -> Option<Reported<'a>> {
        if self.flags & LOUD != 0 {
            return Some(self.ended_loud_later(core, outcome));
        }
        None
    }

    #[cold]
    #[inline(never)]
    fn ended_loud_later<'a>(&mut self, core: &'a Core, outcome: Outcome) -> Reported<'a> {
        Reported::new(self.detach(), core, outcome)
    }

    /// The call leaves its `Acquire` holding its slot: what ends it
    /// ([`held::end_call`](crate::call::held::end_call)) reports it.
    #[inline]
    pub(crate) fn detach(&mut self) -> Held {
        let loud = self.flags & LOUD != 0;
        self.flags &= !LOUD;
        Held {
            #[cfg(feature = "tracing")]
            span: if loud { self.span.take() } else { None },
            #[cfg(feature = "metrics")]
            admitted_at: (loud && self.flags & STAMPED != 0).then_some(self.stamp),
        }
    }
}

#[cfg(feature = "tracing")]
impl Drop for Call {
    #[inline]
    fn drop(&mut self) {
        if self.span.is_some() {
            drop_span(&mut self.span);
        }
    }
}

#[cfg(feature = "tracing")]
#[cold]
fn drop_span(span: &mut std::mem::ManuallyDrop<Option<Box<tracing::Span>>>) {
    // Safety: called once, from `Call`'s `Drop`; not used again. (Closing
    // the span is the subscriber's code.)
    caught(|| unsafe { std::mem::ManuallyDrop::drop(span) });
}

/// A call's end, reported (then its span closed) when this drops: see
/// [`Call::ended_later`].
pub(crate) struct Reported<'a> {
    held: Held,
    core: &'a Core,
    outcome: Outcome,
}

impl<'a> Reported<'a> {
    pub(crate) fn new(held: Held, core: &'a Core, outcome: Outcome) -> Self {
        Reported {
            held,
            core,
            outcome,
        }
    }
}

impl Drop for Reported<'_> {
    fn drop(&mut self) {
        self.held.ended(self.core, self.outcome);
    }
}

/// The reporting of a call that holds a slot, wherever the slot goes.
pub(crate) struct Held {
    #[cfg(feature = "tracing")]
    span: Option<Box<tracing::Span>>,
    /// When it was admitted, if timed.
    #[cfg(feature = "metrics")]
    admitted_at: Option<u64>,
}

/// Closing the span is the subscriber's code (`try_close`), run where a
/// call ends: caught like every report.
#[cfg(feature = "tracing")]
impl Drop for Held {
    #[inline]
    fn drop(&mut self) {
        if let Some(span) = self.span.take() {
            caught(|| drop(span));
        }
    }
}

impl Held {
    /// The call's span, if it has one (a blocking job enters it on the
    /// executor's thread).
    #[cfg(feature = "tracing")]
    pub(crate) fn span(&self) -> Option<&tracing::Span> {
        self.span.as_deref()
    }

    /// The call ended with `outcome` (the core counts it).
    #[inline]
    pub(crate) fn ended(&self, core: &Core, outcome: Outcome) {
        #[cfg(feature = "tracing")]
        if let Some(span) = &self.span {
            trace::ended(span, outcome);
        }
        #[cfg(feature = "metrics")]
        if let Some(at) = self.admitted_at {
            let ran = Duration::from_nanos(core.now_nanos().saturating_sub(at));
            core.observer().meter.run_time(ran);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = core;
        #[cfg(not(feature = "tracing"))]
        let _ = outcome;
    }
}

/// The caller's context on the executor's thread: closing this handle of the
/// caller's span (its last, if the caller moved on) is the subscriber's
/// code, caught like every report, so that it cannot take the job's output
/// (nor abort a thread already unwinding).
#[cfg(feature = "tracing")]
struct Closing(Option<(tracing::Dispatch, tracing::Span)>);

#[cfg(feature = "tracing")]
impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(context) = self.0.take() {
            caught(move || drop(context));
        }
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
            Some(context) => {
                let closing = Closing(Some(context));
                let (dispatch, span) = closing.0.as_ref().expect("not yet closed");
                tracing::dispatcher::with_default(dispatch, || span.in_scope(f))
            }
            None => f(),
        }
    }
}
