//! Permits: a slot held by a guard rather than by a call's future, for code
//! that cannot hand its work to `submit` (a tower service reserving capacity
//! in `poll_ready`, a slot kept until a response body ends).
//!
//! A permit is admitted by the same pipeline as every call
//! ([`Acquire`](crate::call::acquire::Acquire)): same order, same
//! rejections, same accounting, and the same reentrancy rule — a permit
//! taken inside the work of a call of the same pool borrows that call's slot
//! rather than waiting for a second one. Dropping the permit ends the call.

use crate::admission::core::{Core, Mode, Outcome};
use crate::admission::lend::Lender;
use crate::call::acquire::Acquire;
use crate::call::held::Detached;
use crate::call::Form;
use crate::pool::rejected::Rejected;
use crate::scale::adaptive::Verdict;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::poll_fn;
use std::future::Future;
use std::ops::Deref;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// A slot of a pool, held until the permit is dropped; see
/// [`Pool::acquire`](crate::Pool::acquire).
///
/// While it lives the pool counts one call running
/// ([`Stats::running`](crate::Stats::running)). Dropping it ends that call:
/// counted as completed (as panicked if dropped while its thread unwinds),
/// its slot handed to the next waiting call. For an adaptive pool its
/// lifetime is the call's latency and its verdict
/// ([`set_verdict`](Permit::set_verdict)) whether the server was overloaded.
///
/// A permit is a guard, not a frame: calls made while holding it are calls
/// of their own (as with a `tokio::sync::Semaphore` permit), so code that
/// holds the pool's last slot and calls the same pool waits for another one.
/// Work that nested calls should share the slot with goes through `submit`.
///
/// # Examples
///
/// ```
/// use pool_runtime::{Pool, Rejected};
/// use std::time::Duration;
///
/// let pool = Pool::fixed(1);
/// pool.set_admission_timeout(Some(Duration::from_millis(10)));
/// let permit = pool.try_acquire()?;
/// assert_eq!(pool.stats().running, 1);
/// // A guard, not a frame: a call made while holding it waits for another slot.
/// assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
/// drop(permit);
/// assert_eq!(pool.stats().completed, 1);
/// assert_eq!(pool.run(|| ()), Ok(()), "the slot is free again");
/// # Ok::<(), Rejected>(())
/// ```
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct Permit<'a> {
    // Dropped first: a group permit's place under the fleet limit (feature
    // `redis`), taken after the local slot, released before it.
    #[cfg(feature = "redis")]
    fleet: FleetPlace,
    held: Held<&'a Core>,
    ceiling: Option<Held<&'static Core>>,
}

/// A [`Permit`] that owns a reference to its pool: `'static`, so it can move
/// into a spawned task or a response body. See
/// [`Pool::acquire_owned`](crate::Pool::acquire_owned).
///
/// Taken inside a call's work, a permit is a nested call of that work (it
/// may hold the parent's slot), and it stays the work's wherever it is
/// moved: a *sync* call the same work then makes while the permit holds the
/// parent's slot panics naming the fix, as the reentrancy rule says for a
/// slot lent to another nested call of the same task, even if the permit
/// went to another thread — the pool cannot tell a permit that will come
/// back from one the parked caller itself holds (which would deadlock).
/// Make that call async, or drop the permit before it.
///
/// # Examples
///
/// ```
/// use pool_runtime::{OwnedPermit, Pool};
///
/// let pool = Pool::fixed(1);
/// let permit: OwnedPermit = pool.try_acquire_owned(0)?;
/// let worker = std::thread::spawn(move || {
///     let _slot = permit; // held by this thread until it returns
///     "done"
/// });
/// assert_eq!(worker.join().unwrap(), "done");
/// assert_eq!(pool.stats().completed, 1);
/// # Ok::<(), pool_runtime::Rejected>(())
/// ```
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct OwnedPermit {
    #[cfg(feature = "redis")]
    fleet: FleetPlace,
    held: Held<Arc<Core>>,
    ceiling: Option<Held<&'static Core>>,
}

/// A permit's place under the fleet limit (feature `redis`): a lease of
/// its own (held and released with its slot), and the call whose lease
/// calls nested in work run under the permit share (its own, or the call it
/// was taken inside, kept held while the permit lives). Empty for a permit
/// of a pool, or of a group without a fleet limit.
#[cfg(feature = "redis")]
#[derive(Default)]
struct FleetPlace {
    lease: Option<crate::fleet::Lease>,
    // Held for its drop (the parent's lease stays held while the permit
    // lives); read only by the tower layer's frame.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    parent: Option<crate::fleet::Parent>,
}

#[cfg(feature = "redis")]
impl FleetPlace {
    fn new(leased: crate::fleet::Leased) -> Self {
        FleetPlace {
            parent: Some(leased.parent()),
            lease: leased.into_own(),
        }
    }
}

/// A slot taken out of its admission, released when dropped.
struct Held<R: Deref<Target = Core>> {
    core: R,
    held: Option<Detached>,
    verdict: Verdict,
    /// Dropped now, the call was cancelled, and its time is no latency
    /// sample: the permit was never handed out (it still waits for its
    /// fleet lease, feature `redis`), or the work it was held for was
    /// abandoned (feature `tower`: a reserved slot never called, a call or a
    /// response body dropped before its end).
    cancelled: bool,
    /// The work it was held for panicked, and the panic was caught before
    /// the permit was dropped (feature `tower`: a response future or body
    /// whose poll unwound, dropped later by a `catch_unwind`): it ends as a
    /// panicked call, as it would had it been dropped while unwinding.
    panicked: bool,
    /// The slot as lent to calls nested in work run under the permit
    /// ([`OwnedPermit::in_frame`]); unused (and never allocated) otherwise.
    lender: Lender,
}

impl<R: Deref<Target = Core>> Held<R> {
    /// Waits for a slot (the pipeline every call form shares).
    async fn acquire(core: R, weight: i64, mode: Mode) -> Result<Self, Rejected> {
        let held = {
            let mut acquire = pin!(Acquire::new(&*core, weight, mode, Form::Permit));
            poll_fn(|cx| acquire.as_mut().poll_acquire(cx)).await?;
            acquire.as_mut().detach()
        };
        Ok(Held::new(core, held))
    }

    /// Takes a slot if one is free now (or this call may borrow its parent's),
    /// without waiting.
    fn try_acquire(core: R, weight: i64) -> Result<Self, Rejected> {
        // Queued: leave the queue, turned away as if no call could wait.
        Self::attempt(core, weight, |acquire| acquire.give_up(Rejected::Full))
    }

    /// Takes a slot if one is free now; `None` otherwise, the attempt left
    /// as a call that gave up waiting (cancelled), not a rejection: the
    /// ceiling's side of a group's [`try_acquire`] (the group counts the
    /// refusal, as when any call that may not wait meets a full ceiling).
    fn try_now(core: R) -> Option<Self> {
        // Queued: dropped by `attempt`, leaving the queue.
        Self::attempt(core, 0, |_| Err(Rejected::Full)).ok()
    }

    /// One poll of a call that may not wait; `queued` decides the fate of a
    /// call that got into the queue (the call is dropped after it).
    fn attempt(
        core: R,
        weight: i64,
        queued: impl FnOnce(Pin<&mut Acquire<&Core>>) -> Result<(), Rejected>,
    ) -> Result<Self, Rejected> {
        let held = {
            let mut acquire =
                pin!(Acquire::new(&*core, weight, Mode::Reject, Form::Permit).untimed());
            let mut cx = Context::from_waker(crate::call::answer_now());
            match acquire.as_mut().poll_acquire(&mut cx) {
                Poll::Ready(result) => result,
                Poll::Pending => queued(acquire.as_mut()),
            }?;
            acquire.as_mut().detach()
        };
        Ok(Held::new(core, held))
    }

    fn new(core: R, held: Detached) -> Self {
        Held {
            core,
            held: Some(held),
            verdict: Verdict::Success,
            cancelled: false,
            panicked: false,
            lender: Lender::new(),
        }
    }

    /// Runs `f` as work holding this slot: calls of the same pool nested in
    /// it run under the slot (the reentrancy rule), as in a call's work.
    #[cfg(feature = "tower")]
    fn in_frame<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.held {
            Some(held) => crate::admission::nested::enter(&self.core, &self.lender, &held.under, f),
            None => f(),
        }
    }
}

impl<R: Deref<Target = Core>> Drop for Held<R> {
    #[inline]
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            let outcome = if self.panicked || std::thread::panicking() {
                Outcome::Panicked
            } else if self.cancelled {
                Outcome::Cancelled
            } else {
                Outcome::Completed
            };
            // A cancelled call (as a `submit` dropped before it finished
            // is) says nothing of the server's latency; an overload verdict
            // given before stands.
            let verdict = match self.verdict {
                Verdict::Success if self.cancelled => Verdict::Ignore,
                verdict => verdict,
            };
            // A call nested in work run under the permit that still runs
            // takes the slot over (see `end_call`).
            let own = self.lender.take();
            held.end(&self.core, outcome, verdict, own);
        }
    }
}

/// The ceiling's slot for a group permit, if a ceiling is set (taken before
/// the group's own, as every group call does).
/// A group's permit under a ceiling: the group's own rejection at once
/// (paused, closed) comes before the ceiling (see
/// [`turned_away_first`](crate::group::ceiling::turned_away_first)).
/// The ceiling slot of a group's permit (`group`) taken without waiting:
/// `Ok(None)` without a ceiling; a full ceiling turns the permit away as
/// [`Rejected::Full`], counted by the group (as every call form that may not
/// wait is when it meets a full ceiling), not by the ceiling.
fn try_ceiling(
    core: &Core,
    group: bool,
    weight: i64,
) -> Result<Option<Held<&'static Core>>, Rejected> {
    let Some(ceiling) = group.then(crate::group::ceiling::core_if_enabled).flatten() else {
        return Ok(None);
    };
    match Held::try_now(ceiling) {
        Some(held) => Ok(Some(held)),
        None => Err(crate::group::ceiling::turned_away_full(
            core,
            Form::Permit,
            weight,
        )),
    }
}

fn group_turns_away_first(core: &Core, group: bool, weight: i64) -> Option<Rejected> {
    if !group {
        return None;
    }
    crate::group::ceiling::turned_away_first(core, Form::Permit, weight)
}

/// The ceiling slot of a group's permit (`group`: its pool and weight), if
/// a ceiling is set: waited for only as long as the group's patience allows
/// (see [`Patience`](crate::group::ceiling::Patience)).
async fn ceiling(group: Option<(&Core, i64)>) -> Result<Option<Held<&'static Core>>, Rejected> {
    let Some((group, weight)) = group else {
        return Ok(None);
    };
    let Some(core) = crate::group::ceiling::core_if_enabled() else {
        return Ok(None);
    };
    let wait = Held::acquire(core, crate::group::ceiling::rank(group, weight), Mode::Wait);
    let held = match crate::group::ceiling::Patience::of(group, Form::Permit, weight) {
        Some(patience) => patience.wait(wait).await?,
        None => wait.await,
    };
    match held {
        Ok(held) => Ok(Some(held)),
        Err(rejected) => unreachable!("the ceiling pool never rejects: {rejected}"),
    }
}

/// Waits for the pool's own slot (`acquire`) holding `ceiling` (a group's
/// ceiling slot, if any). Dropped meanwhile (its caller cancelled the call),
/// the ceiling's call ends cancelled, not completed, as a `Group::submit`
/// dropped there does; turned away by the group, it ends as a group call
/// that the group answered, completed for the ceiling, as a submit's does.
async fn group_slot<R: Deref<Target = Core>>(
    acquire: impl std::future::Future<Output = Result<Held<R>, Rejected>>,
    mut ceiling: Option<Held<&'static Core>>,
) -> Result<(Held<R>, Option<Held<&'static Core>>), Rejected> {
    if let Some(ceiling) = &mut ceiling {
        ceiling.cancelled = true;
    }
    let held = acquire.await;
    if let Some(ceiling) = &mut ceiling {
        ceiling.cancelled = false;
    }
    Ok((held?, ceiling))
}

pin_project! {
    /// The future of [`Pool::acquire`](crate::Pool::acquire) and
    /// [`Pool::acquire_weighted`](crate::Pool::acquire_weighted): a
    /// [`Permit`], or why the pool turned the call away.
    ///
    /// # Cancel safety
    ///
    /// Dropping it at any point loses nothing: a call still waiting leaves
    /// the queue (counted as cancelled, as a dropped
    /// [`Submit`](crate::Submit) is), and a slot handed to it meanwhile goes
    /// to the next waiting call. Once it has returned the permit, the permit
    /// is the slot's only holder.
    #[must_use = "futures do nothing unless polled"]
    pub struct Acquiring<'a> {
        #[pin]
        acquire: Option<Acquire<&'a Core>>,
    }
}

impl<'a> Acquiring<'a> {
    /// A permit of `core` (a pool's: no ceiling, no fleet lease).
    #[inline]
    pub(crate) fn new(core: &'a Core, weight: i64) -> Self {
        Acquiring {
            acquire: Some(Acquire::new(core, weight, Mode::Reject, Form::Permit)),
        }
    }
}

impl<'a> Future for Acquiring<'a> {
    type Output = Result<Permit<'a>, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let held = ready!(poll_detached(self.project().acquire, cx))?;
        Poll::Ready(Ok(Permit {
            #[cfg(feature = "redis")]
            fleet: FleetPlace::default(),
            held,
            ceiling: None,
        }))
    }
}

impl fmt::Debug for Acquiring<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquiring").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Pool::acquire_owned`](crate::Pool::acquire_owned):
    /// an [`OwnedPermit`], or why the pool turned the call away.
    ///
    /// # Cancel safety
    ///
    /// As [`Acquiring`].
    #[must_use = "futures do nothing unless polled"]
    pub struct AcquiringOwned {
        #[pin]
        acquire: Option<Acquire<Arc<Core>>>,
    }
}

impl AcquiringOwned {
    /// An owned permit of `core` (a pool's: no ceiling, no fleet lease).
    #[inline]
    pub(crate) fn new(core: Arc<Core>, weight: i64) -> Self {
        AcquiringOwned {
            acquire: Some(Acquire::new(core, weight, Mode::Reject, Form::Permit)),
        }
    }
}

impl Future for AcquiringOwned {
    type Output = Result<OwnedPermit, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let held = ready!(poll_detached(self.project().acquire, cx))?;
        Poll::Ready(Ok(OwnedPermit {
            #[cfg(feature = "redis")]
            fleet: FleetPlace::default(),
            held,
            ceiling: None,
        }))
    }
}

impl fmt::Debug for AcquiringOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquiringOwned").finish_non_exhaustive()
    }
}

/// Polls a permit's admission; once it is answered, the call is dropped
/// (after its slot was taken out of it, if admitted), so that a future
/// polled again after its answer panics instead of answering twice.
#[inline(always)]
fn poll_detached<R: Deref<Target = Core> + Clone>(
    mut slot: Pin<&mut Option<Acquire<R>>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Held<R>, Rejected>> {
    let Some(mut acquire) = slot.as_mut().as_pin_mut() else {
        panic!("a permit's future polled after it returned");
    };
    let answer = ready!(acquire.as_mut().poll_acquire(cx));
    let held = answer.map(|()| Held::new(acquire.core().clone(), acquire.as_mut().detach()));
    slot.set(None);
    Poll::Ready(held)
}

/// A permit of `core`; under the ceiling too if `group`.
pub(crate) async fn acquire(core: &Core, weight: i64, group: bool) -> Result<Permit<'_>, Rejected> {
    if !group || crate::group::ceiling::core_if_enabled().is_none() {
        return Acquiring::new(core, weight).await;
    }
    if let Some(rejected) = group_turns_away_first(core, group, weight) {
        crate::call::within_budget().await;
        return Err(rejected);
    }
    let ceiling = ceiling(group.then_some((core, weight))).await?;
    let (held, ceiling) = group_slot(Held::acquire(core, weight, Mode::Reject), ceiling).await?;
    Ok(Permit {
        #[cfg(feature = "redis")]
        fleet: FleetPlace::default(),
        held,
        ceiling,
    })
}

/// An owned permit of `core`; under the ceiling too if `group`.
pub(crate) async fn acquire_owned(
    core: Arc<Core>,
    weight: i64,
    group: bool,
) -> Result<OwnedPermit, Rejected> {
    if !group || crate::group::ceiling::core_if_enabled().is_none() {
        return AcquiringOwned::new(core, weight).await;
    }
    if let Some(rejected) = group_turns_away_first(&core, group, weight) {
        crate::call::within_budget().await;
        return Err(rejected);
    }
    let ceiling = ceiling(group.then_some((&*core, weight))).await?;
    let (held, ceiling) = group_slot(Held::acquire(core, weight, Mode::Reject), ceiling).await?;
    Ok(OwnedPermit {
        #[cfg(feature = "redis")]
        fleet: FleetPlace::default(),
        held,
        ceiling,
    })
}

/// A permit of `core` if a slot is free now; under the ceiling too if
/// `group` (whose slot must be free now as well).
pub(crate) fn try_acquire(core: &Core, weight: i64, group: bool) -> Result<Permit<'_>, Rejected> {
    if let Some(rejected) = group_turns_away_first(core, group, weight) {
        return Err(rejected);
    }
    let ceiling = try_ceiling(core, group, weight)?;
    let held = Held::try_acquire(core, weight)?;
    Ok(Permit {
        #[cfg(feature = "redis")]
        fleet: FleetPlace::default(),
        held,
        ceiling,
    })
}

/// An owned permit of `core` (a pool's: no ceiling) if it would be admitted
/// at once without waiting; otherwise `None`, with nothing counted, so the
/// caller can go on to wait through [`acquire_owned`].
#[cfg(feature = "tower")]
pub(crate) fn acquire_owned_now(core: Arc<Core>, weight: i64) -> Option<OwnedPermit> {
    let held = {
        let mut acquire = pin!(Acquire::new(&*core, weight, Mode::Reject, Form::Permit));
        if !acquire.as_mut().try_fast() {
            return None;
        }
        acquire.as_mut().detach()
    };
    Some(OwnedPermit {
        #[cfg(feature = "redis")]
        fleet: FleetPlace::default(),
        held: Held::new(core, held),
        ceiling: None,
    })
}

/// An owned permit of `core` if a slot is free now.
pub(crate) fn try_acquire_owned(
    core: Arc<Core>,
    weight: i64,
    group: bool,
) -> Result<OwnedPermit, Rejected> {
    if let Some(rejected) = group_turns_away_first(&core, group, weight) {
        return Err(rejected);
    }
    let ceiling = try_ceiling(&core, group, weight)?;
    let held = Held::try_acquire(core, weight)?;
    Ok(OwnedPermit {
        #[cfg(feature = "redis")]
        fleet: FleetPlace::default(),
        held,
        ceiling,
    })
}

impl Permit<'_> {
    /// The permit with its place under the fleet limit: a lease of its own
    /// (held and released with its slot), or its parent call's.
    #[cfg(feature = "redis")]
    pub(crate) fn leased(mut self, leased: crate::fleet::Leased) -> Self {
        self.fleet = FleetPlace::new(leased);
        self
    }

    /// While `waiting` for its fleet lease, the permit has not been handed
    /// out: a drop then is its caller cancelling the call (counted in
    /// `cancelled`, in the group's pool and the ceiling's), not a completion.
    #[cfg(feature = "redis")]
    pub(crate) fn waiting_for_lease(&mut self, waiting: bool) {
        self.held.cancelled = waiting;
        if let Some(ceiling) = &mut self.ceiling {
            ceiling.cancelled = waiting;
        }
    }

    /// The fleet lease the permit holds (feature `redis`): `Some` for a
    /// permit of a group with a fleet limit (see [`fleet`](crate::fleet)),
    /// unless it was taken inside the work of a call of the same fleet,
    /// whose lease it shares.
    /// A permit cannot be stopped when its lease is lost: check
    /// [`Lease::is_lost`](crate::fleet::Lease::is_lost), and pass
    /// [`Lease::token`](crate::fleet::Lease::token) to the resource the
    /// limit protects.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pool_runtime::Pool::fixed(1);
    /// let permit = pool.try_acquire()?;
    /// assert!(permit.lease().is_none(), "a pool has no fleet limit");
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn lease(&self) -> Option<&crate::fleet::Lease> {
        self.fleet.lease.as_ref()
    }

    /// How the call went, for an adaptive pool (default:
    /// [`Verdict::Success`], a latency sample): [`Verdict::Overload`] if the
    /// server refused it, [`Verdict::Ignore`] if it says nothing about the
    /// server. Other pools ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Verdict};
    ///
    /// let pool = Pool::fixed(2);
    /// let mut permit = pool.try_acquire()?;
    /// permit.set_verdict(Verdict::Overload); // the server said "overloaded"
    /// drop(permit);
    /// assert_eq!(pool.size(), 2, "a fixed pool ignores the verdict");
    /// assert_eq!(pool.stats().completed, 1);
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// ```
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.held.verdict = verdict;
    }
}

impl OwnedPermit {
    /// The permit with its place under the fleet limit: a lease of its own
    /// (held and released with its slot), or its parent call's.
    #[cfg(feature = "redis")]
    pub(crate) fn leased(mut self, leased: crate::fleet::Leased) -> Self {
        self.fleet = FleetPlace::new(leased);
        self
    }

    /// While `waiting` for its fleet lease, the permit has not been handed
    /// out: a drop then is its caller cancelling the call (counted in
    /// `cancelled`, in the group's pool and the ceiling's), not a completion.
    #[cfg(feature = "redis")]
    pub(crate) fn waiting_for_lease(&mut self, waiting: bool) {
        self.held.cancelled = waiting;
        if let Some(ceiling) = &mut self.ceiling {
            ceiling.cancelled = waiting;
        }
    }

    /// Runs `f` (a poll of the work the permit was taken for: the tower
    /// layer's inner response future, or a `PermitBody`'s frame) as the work
    /// of a call holding the permit's slots, so that a call of the same pool
    /// or group made from inside it is a nested call: it runs under the
    /// permit's slot (and ceiling slot, and fleet lease) by the reentrancy
    /// rule instead of waiting for a second one, which would deadlock a full
    /// pool.
    #[cfg(feature = "tower")]
    pub(crate) fn in_frame<T>(&self, f: impl FnOnce() -> T) -> T {
        let local = || self.held.in_frame(f);
        let ceilinged = || match &self.ceiling {
            Some(ceiling) => ceiling.in_frame(local),
            None => local(),
        };
        #[cfg(feature = "redis")]
        if let Some(parent) = &self.fleet.parent {
            return crate::fleet::with_parent(parent.clone(), ceilinged);
        }
        ceilinged()
    }

    /// [`in_frame`](OwnedPermit::in_frame) for a poll of the work itself (a
    /// response future, a response body): if it unwinds, the call ends as a
    /// panicked one whenever the permit is dropped, also after the panic was
    /// caught (a `catch_unwind` around the future drops it only then), as a
    /// `submit` whose work panics does.
    #[cfg(feature = "tower")]
    pub(crate) fn poll_work<T>(&mut self, f: impl FnOnce() -> T) -> T {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.in_frame(f))) {
            Ok(out) => out,
            Err(payload) => {
                self.held.panicked = true;
                if let Some(ceiling) = &mut self.ceiling {
                    ceiling.panicked = true;
                }
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// See [`Permit::lease`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pool_runtime::Pool::fixed(1);
    /// let permit = pool.try_acquire_owned(0)?;
    /// assert!(permit.lease().is_none(), "a pool has no fleet limit");
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn lease(&self) -> Option<&crate::fleet::Lease> {
        self.fleet.lease.as_ref()
    }

    /// See [`Permit::set_verdict`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Verdict};
    ///
    /// let pool = Pool::fixed(2);
    /// let mut permit = pool.try_acquire_owned(0)?;
    /// permit.set_verdict(Verdict::Ignore);
    /// drop(permit);
    /// assert_eq!(pool.size(), 2, "a fixed pool ignores the verdict");
    /// assert_eq!(pool.stats().completed, 1, "the call still counts as completed");
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// ```
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.held.verdict = verdict;
    }

    /// The work the permit was held for did not finish (a reserved slot
    /// never called, a call or a response body dropped or broken before its
    /// end): it ends as a cancelled call, and its time is no latency sample.
    /// An overload verdict stands (the server said so).
    #[cfg(feature = "tower")]
    pub(crate) fn unfinished(&mut self) {
        // For the ceiling too: its call is the same call.
        self.held.cancelled = true;
        if let Some(ceiling) = &mut self.ceiling {
            ceiling.cancelled = true;
        }
    }

    /// The work ended, but its time says nothing of the server (a response
    /// body broken by an error): no latency sample; an overload verdict
    /// stands.
    #[cfg(feature = "tower")]
    pub(crate) fn no_sample(&mut self) {
        if self.held.verdict == Verdict::Success {
            self.held.verdict = Verdict::Ignore;
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("verdict", &self.held.verdict)
            .field("ceiling", &self.ceiling.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("verdict", &self.held.verdict)
            .field("ceiling", &self.ceiling.is_some())
            .finish_non_exhaustive()
    }
}
