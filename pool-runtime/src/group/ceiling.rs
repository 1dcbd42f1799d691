//! The application-wide ceiling: an optional limit on the calls running
//! across all groups, set by configuration (`ceiling = N` in the file, or
//! `POOLED_CEILING`) and lifted by leaving it out.
//!
//! While a ceiling is set, every group call takes a ceiling slot before its
//! group's slot; a call its group turns away at once (paused or closed) is
//! turned away before it would wait for the ceiling, and a group's
//! `max_waiting = 0` ("never wait") and admission timeout bound its calls'
//! wait for a ceiling slot as they bound their wait for the group's own
//! (never-rejecting calls wait; the timeout bounds each of the two waits on
//! its own). A call waiting for a ceiling slot is not
//! yet its group's: it is in the ceiling's `stats().waiting`, not in the
//! group's `submitted` or `waiting`, and a group's `max_waiting` above 0
//! counts only the calls waiting for the group's own slots; a group paused
//! or closed while it waits turns it away once it has its ceiling slot, as
//! it turns away a new call. A nested call
//! (one made from inside a running group call) runs under its parent's
//! ceiling slot, so the ceiling counts top-level calls and nested calls
//! cannot deadlock it; as the reentrancy rule says, one nested call at a time
//! uses the parent's slot, and the others wait for it or for a free ceiling
//! slot. Calls waiting for a ceiling slot are admitted by their weight in
//! their group if it is a priority group (smaller first), else as weight 0,
//! and in arrival order among equal weights. A call waiting for a busy group holds
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
use crate::admission::nested;
use crate::call::acquire::Acquire;
use crate::call::blocking::OwnedSlot;
use crate::call::Form;
use crate::pool::rejected::Rejected;
use crate::pool::stats::Stats;
use crate::pool::Pool;
use crate::scale::LimitCause;
use crate::time::timer::Sleep;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

static POOL: OnceLock<Pool> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        Pool::builder()
            .name("(ceiling)")
            .size(1)
            .order(crate::pool::order::Order::Priority)
            .build()
            .expect("a fixed pool of 1")
    })
}

/// Sets (or, with `None`, lifts) the ceiling. Lowering it lets running calls
/// finish; raising it admits waiting ones at once. Set where there was none,
/// it gates the calls made after it (their futures built after it): those
/// already running hold no ceiling slot and are not counted (a call nested
/// in one runs under it, as does a group call made in work submitted to a
/// group's pool directly). Never cut short: the
/// panic of a waker it wakes (re-raised by the resize, once done) is caught
/// here (the panic hook has shown it), so the ceiling is in force as set.
pub(crate) fn set(limit: Option<usize>) {
    use crate::unwind::caught;
    match limit {
        Some(limit) => {
            caught(|| pool().resize_for(limit, LimitCause::Reload));
            ENABLED.store(true, Ordering::SeqCst);
        }
        None => {
            ENABLED.store(false, Ordering::SeqCst);
            // Calls already waiting for the ceiling are let through.
            if let Some(pool) = POOL.get() {
                caught(|| pool.resize_for(crate::MAX_SLOTS, LimitCause::Reload));
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
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    enabled_core()
}

/// [`core_if_enabled`] with a ceiling set: out of line, so that the common
/// case (no ceiling), inlined into every group call's caller, does not carry
/// the walk of the thread's frames (its registers cost the call without a
/// ceiling a few spills; `bench/callgrind.sh --guard`, case 3).
#[cold]
#[inline(never)]
fn enabled_core() -> Option<&'static Core> {
    let core = pool().core();
    // A call made from the work of a group call that holds no ceiling slot
    // (it started before a load set the ceiling) runs under that call, as
    // one nested in a call holding a ceiling slot runs under its slot:
    // waiting for the ceiling there could wait for a call that holds the
    // last ceiling slot and waits for the parent's group.
    if nested::any() {
        // One walk of the thread's frames: the ceiling's (the call is nested
        // under a ceiling slot), or a group's further out than any.
        let mut in_group = false;
        let under_ceiling = nested::innermost(|running| {
            in_group |= running.is_group();
            ptr::eq(running, core).then_some(())
        });
        if under_ceiling.is_none() && in_group {
            return None;
        }
    }
    Some(core)
}

/// The weight a call of the group whose pool is `group`, with `weight` in
/// it, waits for a ceiling slot with: its own in a priority group (an
/// urgent call goes before batch calls made before it, as in its group),
/// 0 in a FIFO or LIFO group (which ignores weights): equal weights wait in
/// arrival order.
pub(crate) fn rank(group: &Core, weight: i64) -> i64 {
    match group.order() {
        crate::pool::order::Order::Priority => weight,
        _ => 0,
    }
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
    count_turned_away(core, form, weight, reason, true);
    Some(reason)
}

/// A call of the group (`core`) that may not wait, met by a full ceiling:
/// turned away as the group's [`Rejected::Full`], counted by the group.
pub(crate) fn turned_away_full(core: &Core, form: Form, weight: i64) -> Rejected {
    count_turned_away(core, form, weight, Rejected::Full, false);
    Rejected::Full
}

/// Counts a call its group (`core`) turned away for `reason`: submitted,
/// and rejected (unless `counted` already), reported as the pool reports
/// its own.
fn count_turned_away(core: &Core, form: Form, weight: i64, reason: Rejected, counted: bool) {
    core.count_submitted();
    if !counted {
        core.count_rejection(reason);
    }
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    {
        let mut obs = crate::obs::Call::new(form);
        obs.start(core, || weight);
        obs.rejected(core, reason);
    }
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = (form, weight);
}

/// How long a rejecting call of a group may wait for a ceiling slot: as
/// long as it may wait for the group's own slot. A group whose
/// `max_waiting` is 0 ("never wait, run now or be turned away") gives no
/// wait at all ([`Rejected::Full`]); one with an admission timeout gives
/// that long ([`Rejected::TimedOut`]), a second one then bounding its wait
/// for the group's own slot. The call is counted by its group as turned
/// away, and by the ceiling as cancelled (it left the ceiling's queue).
pub(crate) struct Patience<'a> {
    group: &'a Core,
    form: Form,
    weight: i64,
}

impl<'a> Patience<'a> {
    /// The patience of a call of `form` of the group `group`; `None` if it
    /// may wait for good (no such bound set, or the call is nested in the
    /// group's work, which those bounds never turn away).
    pub(crate) fn of(group: &'a Core, form: Form, weight: i64) -> Option<Self> {
        if crate::admission::nested::lend_of(group).is_some() {
            return None;
        }
        if group.max_waiting() != Some(0) && group.admission_timeout().is_none() {
            return None;
        }
        Some(Patience {
            group,
            form,
            weight,
        })
    }

    /// The call has to wait for the ceiling: `Err` if it may not wait at all;
    /// otherwise the longest it may wait.
    fn on_wait(&self) -> Result<Option<Duration>, Rejected> {
        if self.group.max_waiting() == Some(0) {
            return Err(self.turned_away(Rejected::Full));
        }
        Ok(self.group.admission_timeout())
    }

    /// The call gives up its wait for the ceiling for `reason`: counted by
    /// its group.
    fn turned_away(&self, reason: Rejected) -> Rejected {
        count_turned_away(self.group, self.form, self.weight, reason, false);
        reason
    }

    /// Waits for `ceiling` (a wait for a ceiling slot) within this patience:
    /// its output, or the rejection that ends the wait (the wait is dropped,
    /// leaving the ceiling's queue; a slot it was handed meanwhile is freed).
    pub(crate) async fn wait<T>(self, ceiling: impl Future<Output = T>) -> Result<T, Rejected> {
        let out = self.wait_for(ceiling).await;
        if out.is_err() {
            // Answered within the task's budget (see `Rejected`).
            crate::call::within_budget().await;
        }
        out
    }

    async fn wait_for<T>(&self, ceiling: impl Future<Output = T>) -> Result<T, Rejected> {
        let mut ceiling = std::pin::pin!(ceiling);
        let mut deadline: Option<Pin<Box<Sleep>>> = None;
        let mut first = true;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = ceiling.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            if std::mem::take(&mut first) {
                match self.on_wait() {
                    Err(rejected) => return Poll::Ready(Err(rejected)),
                    Ok(Some(timeout)) => {
                        deadline = Some(Sleep::new(timeout, self.group.uses_tokio_time()))
                    }
                    Ok(None) => {}
                }
            }
            if let Some(deadline) = deadline.as_mut() {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(self.turned_away(Rejected::TimedOut)));
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// [`acquire_owned`] for a rejecting blocking call of the group `group`,
/// waiting only as long as the group's [`Patience`] allows.
pub(crate) async fn acquire_owned_for(
    group: &Core,
    weight: i64,
) -> Result<Option<OwnedSlot>, Rejected> {
    if core_if_enabled().is_none() {
        return Ok(None);
    }
    let ceiling = acquire_owned(group, weight);
    match Patience::of(group, Form::Blocking, weight) {
        Some(patience) => patience.wait(ceiling).await,
        None => Ok(ceiling.await),
    }
}

/// [`run`] for a rejecting sync call of the group `group`, waiting for a
/// ceiling slot only as long as the group's [`Patience`] allows.
pub(crate) fn run_for<T>(group: &Core, weight: i64, f: impl FnOnce() -> T) -> Result<T, Rejected> {
    if core_if_enabled().is_none() {
        return Ok(f());
    }
    match Patience::of(group, Form::Run, weight) {
        Some(patience) => pool().run_call_patient(
            rank(group, weight),
            || patience.on_wait(),
            || patience.turned_away(Rejected::TimedOut),
            f,
        ),
        None => Ok(run(group, weight, f)),
    }
}

/// A ceiling slot owned by a blocking job (released on the executor's
/// thread) of the group whose pool is `group`, waited for with the [`rank`]
/// of `weight` there.
pub(crate) async fn acquire_owned(group: &Core, weight: i64) -> Option<OwnedSlot> {
    core_if_enabled()?;
    OwnedSlot::acquire(pool().core_arc(), rank(group, weight), Mode::Wait)
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
/// A call that its group turns away at once (paused or closed) is turned
/// away at its first poll, before it would wait for the ceiling; its wait
/// for a ceiling slot is bounded as its wait for its group's slot would be
/// (`max_waiting = 0`: no wait; an admission timeout).
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
    /// Structurally pinned (the box is). `None` once the call gave up its
    /// wait (its group's patience ran out, see [`Patience`]).
    acquire: Option<Acquire<&'static Core>>,
    /// A rejecting call's group: checked at the first poll, and for how
    /// long the call may wait.
    first: Option<First<O>>,
    /// Whether the first poll's check was made.
    checked: bool,
    /// The end of the call's patience, once it waits.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<O> Gate<O> {
    /// The call waits for the ceiling: the rejection that ends its wait
    /// now, if its group's patience (see [`Patience`]) has run out.
    fn impatient(&mut self, first_wait: bool, cx: &mut Context<'_>) -> Option<Rejected> {
        let first = self.first.as_ref()?;
        if first_wait {
            let patience = Patience::of(&first.group, Form::Submit, first.weight)?;
            match patience.on_wait() {
                Err(rejected) => return Some(rejected),
                Ok(Some(timeout)) => {
                    self.deadline = Some(Sleep::new(timeout, first.group.uses_tokio_time()))
                }
                Ok(None) => {}
            }
        }
        let deadline = self.deadline.as_mut()?;
        if deadline.as_mut().poll(cx).is_pending() {
            return None;
        }
        self.deadline = None;
        let reason = Rejected::TimedOut;
        count_turned_away(&first.group, Form::Submit, first.weight, reason, false);
        Some(reason)
    }
}

/// A rejecting group call's group, checked before the call waits for the
/// ceiling (see [`turned_away_first`] and [`Patience`]).
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
        /// Drops the gate (and so gives back its ceiling slot) when it goes:
        /// after the work, also when the work's `Drop` panics.
        struct Last<O>(*mut ManuallyDrop<Option<GateBox<O>>>);
        impl<O> Drop for Last<O> {
            fn drop(&mut self) {
                // Safety: points at `ceiling` of a `Ceilinged` being dropped
                // in place; dropped once, here, and never used again.
                unsafe { ManuallyDrop::drop(&mut *self.0) }
            }
        }
        let last = Last(std::ptr::addr_of_mut!(self.ceiling));
        // Safety: `last` only touches the gate once this borrow has ended.
        if let Some(gate) = unsafe { &mut *last.0 }.as_mut() {
            // Safety: `self` is pinned (it is only ever used pinned) and is
            // being dropped in place: `work` is dropped in place, once; the
            // gate's `acquire` is not moved out of its pinned box.
            unsafe {
                let work = Pin::new_unchecked(&mut self.work);
                match &mut gate.as_mut().get_unchecked_mut().acquire {
                    Some(acquire) => Pin::new_unchecked(acquire).drop_work(work),
                    None => ManuallyDrop::drop(work.get_unchecked_mut()),
                }
            };
        }
        drop(last);
    }

    /// The call `make` builds, gated by the ceiling if one is set now.
    ///
    /// The order is: the group's pool (a first use reads the configuration,
    /// which may set the ceiling), then the ceiling decision, then the work.
    /// So callers take the pool before calling this, and `make` only builds
    /// the work — after the ceiling is decided, so that it is built in
    /// place: a work future built first had to be kept aside across that
    /// decision and copied in, twice, on every call.
    /// `group` and `weight`: the call's group pool and its weight there,
    /// which rank its wait for a ceiling slot (see [`rank`]).
    #[inline]
    pub(crate) fn new(group: &Pool, weight: i64, make: impl FnOnce() -> F) -> Self {
        Self::gated(group, weight, || None, make)
    }

    #[inline]
    fn gated(
        group: &Pool,
        weight: i64,
        first: impl FnOnce() -> Option<First<F::Output>>,
        make: impl FnOnce() -> F,
    ) -> Self {
        let ceiling = match ENABLED.load(Ordering::Relaxed) {
            false => None,
            true => Self::gate(group, weight, first),
        };
        Ceilinged {
            ceiling: ManuallyDrop::new(ceiling),
            work: ManuallyDrop::new(make()),
        }
    }

    /// The ceiling slot's gate, if the call takes one: out of line (a
    /// ceiling is the rare case; see [`enabled_core`]).
    #[cold]
    #[inline(never)]
    fn gate(
        group: &Pool,
        weight: i64,
        first: impl FnOnce() -> Option<First<F::Output>>,
    ) -> Option<GateBox<F::Output>> {
        let core = core_if_enabled()?;
        let rank = rank(group.core(), weight);
        Some(Box::pin(Gate {
            acquire: Some(Acquire::new(core, rank, Mode::Wait, Form::Submit)),
            first: first(),
            checked: false,
            deadline: None,
        }))
    }
}

impl<T, F: Future<Output = Result<T, Rejected>>> Ceilinged<F> {
    /// A rejecting call of the group whose pool is `group` (with `weight`),
    /// built by `make`: under a ceiling, the group's own rejection at once
    /// (paused, closed) comes before the wait for a ceiling slot.
    #[inline]
    pub(crate) fn rejecting(group: &Pool, weight: i64, make: impl FnOnce() -> F) -> Self {
        Self::gated(
            group,
            weight,
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
        if this.ceiling.is_none() {
            return unsafe { Pin::new_unchecked(&mut *this.work) }.poll(cx);
        }
        this.poll_gated(cx)
    }
}

impl<F: Future> Ceilinged<F> {
    /// `poll` of a call under the ceiling, out of line: a call without one
    /// (the common case) pays one check for it.
    ///
    /// A rejecting call's first poll, which may turn it away at once (its
    /// group paused or closed, or no wait allowed at a full ceiling), takes
    /// a unit of its task's cooperative budget before it decides (see
    /// [`Rejected`]): spent if that poll answers, given back if it waits.
    #[inline(never)]
    fn poll_gated(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        let rejecting_first_poll = self
            .ceiling
            .as_ref()
            .is_some_and(|gate| !gate.checked && gate.first.is_some());
        if !rejecting_first_poll {
            return self.poll_gate(cx);
        }
        let unit = ready!(crate::call::budget(cx));
        let poll = self.poll_gate(cx);
        if poll.is_ready() {
            crate::call::Budget::spend(unit);
        }
        poll
    }

    /// [`poll_gated`](Self::poll_gated) itself.
    #[inline(always)]
    fn poll_gate(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Safety: as in `poll` (`self` is pinned there).
        let work = unsafe { Pin::new_unchecked(&mut *self.work) };
        let Some(gate) = self.ceiling.as_mut() else {
            return work.poll(cx);
        };
        // Safety: nothing is moved out of the pinned box; `acquire` is
        // structurally pinned in it.
        let gate = unsafe { gate.as_mut().get_unchecked_mut() };
        let first_poll = !std::mem::replace(&mut gate.checked, true);
        if let Some(first) = gate.first.as_ref().filter(|_| first_poll) {
            if let Some(reason) = turned_away_first(&first.group, Form::Submit, first.weight) {
                return Poll::Ready((first.reject)(reason));
            }
        }
        let Some(acquire) = gate.acquire.as_mut() else {
            panic!("`Ceilinged` polled after completion");
        };
        let mut ceiling = unsafe { Pin::new_unchecked(acquire) };
        let admitted = ceiling.as_mut().poll_acquire(cx);
        if admitted.is_pending() {
            if let Some(rejected) = gate.impatient(first_poll, cx) {
                // Leaves the ceiling's queue (a slot handed to it meanwhile
                // is freed).
                // Safety: dropped in place, in its pinned box.
                unsafe { Pin::new_unchecked(&mut gate.acquire) }.set(None);
                let reject = gate.first.as_ref().expect("only a rejecting call").reject;
                return Poll::Ready(reject(rejected));
            }
            return Poll::Pending;
        }
        if let Poll::Ready(Err(rejected)) = admitted {
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

/// Runs sync work of the group whose pool is `group` under the ceiling, if
/// one is set, waiting for it with the [`rank`] of `weight` there.
pub(crate) fn run<T>(group: &Core, weight: i64, f: impl FnOnce() -> T) -> T {
    match core_if_enabled() {
        None => f(),
        Some(_) => match pool().run_call(rank(group, weight), Mode::Wait, f) {
            Ok(out) => out,
            Err(rejected) => unreachable!("the ceiling pool never rejects: {rejected}"),
        },
    }
}

/// Runs a blocking job's work under the ceiling slot it was given, if any.
pub(crate) fn run_owned<T>(slot: Option<OwnedSlot>, f: impl FnOnce() -> T) -> T {
    match slot {
        None => f(),
        Some(slot) => match slot.run_inline(f) {
            Ok(out) => out,
            Err(payload) => std::panic::resume_unwind(payload),
        },
    }
}
