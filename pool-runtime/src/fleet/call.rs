//! A group call under a fleet limit: once it holds its local slot, it
//! acquires a lease, runs, and releases both together.

use super::handle::Fleet;
use super::lease::{Lease, LeaseHold};
use super::waiter::{self, Acquire};
use crate::pool::rejected::Rejected;
use pin_project_lite::pin_project;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

thread_local! {
    /// The fleet calls whose work runs on this thread, innermost last: their
    /// fleets and their leases' fencing tokens. All of them, not only the
    /// innermost: a call of fleet `Y` made in the work of a call of fleet
    /// `X` made in the work of a call of `Y` runs under the outer `Y` call's
    /// lease, as the local slot's reentrancy rule sees through `X` too.
    static CURRENT: RefCell<Vec<Parent>> = const { RefCell::new(Vec::new()) };
}

/// A fleet call running on this thread: calls of the same fleet nested in
/// its work run under its lease, and hold it (a clone of the parent keeps
/// the lease held: a nested call that outlives its parent keeps it until it
/// ends, as it keeps its parent's local slot busy).
#[derive(Clone, Debug)]
pub(crate) struct Parent {
    /// Which fleet (the address of its shared state).
    fleet: usize,
    token: Option<u64>,
    /// Keeps the lease held while this parent (or a clone) lives; `None`
    /// under the stand-in of a lease (policy `local`).
    hold: Option<LeaseHold>,
}

impl Parent {
    /// Whether the lease shared under this parent was lost.
    fn is_lost(&self) -> bool {
        self.hold.as_ref().is_some_and(LeaseHold::is_lost)
    }

    /// The call holding `lease` of the fleet `fleet` (its [`id`]).
    fn holding(fleet: usize, lease: &Lease) -> Parent {
        Parent {
            fleet,
            token: lease.token(),
            hold: lease.hold(),
        }
    }
}

fn id(fleet: &Fleet) -> usize {
    std::sync::Arc::as_ptr(fleet.inner()) as usize
}

/// The fencing token of the fleet lease the current call holds: inside the
/// work of a call of a fleet group (async or sync), the token of its lease;
/// elsewhere (or under the local fallback) `None`. See
/// [`Lease::token`](super::Lease::token).
pub fn token() -> Option<u64> {
    CURRENT.with(|current| current.borrow().last().and_then(|parent| parent.token))
}

/// The call of `fleet` whose work is running on this thread, if any: a call
/// made now is nested in it and runs under its lease (the fleet counts
/// top-level calls, as the application-wide ceiling does, so a nested call
/// never waits for a lease its parent is holding).
pub(crate) fn parent(fleet: &Fleet) -> Option<Parent> {
    let fleet = id(fleet);
    CURRENT.with(|current| {
        let current = current.borrow();
        current
            .iter()
            .rev()
            .find(|parent| parent.fleet == fleet)
            .cloned()
    })
}

/// Runs `f` as the work of a call under `parent`'s lease (its own, or the
/// one it shares).
pub(crate) fn with_parent<T>(parent: Parent, f: impl FnOnce() -> T) -> T {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            // The parent set for `f` is dropped outside the cell's borrow.
            let _parent = CURRENT.with(|current| current.borrow_mut().pop());
        }
    }
    CURRENT.with(|current| current.borrow_mut().push(parent));
    let _restore = Restore;
    f()
}

/// A call's place under the fleet limit: a lease of its own, or its
/// parent's (see [`parent`]).
#[derive(Debug)]
pub(crate) enum Leased {
    Own(Parent, Lease),
    Parent(Parent),
}

impl Leased {
    fn own(fleet: &Fleet, lease: Lease) -> Leased {
        Leased::Own(Parent::holding(id(fleet), &lease), lease)
    }

    /// The call whose lease calls nested in this call's work share.
    pub(crate) fn parent(&self) -> Parent {
        match self {
            Leased::Own(parent, _) | Leased::Parent(parent) => parent.clone(),
        }
    }

    /// The lease, if the call holds one of its own.
    pub(crate) fn into_own(self) -> Option<Lease> {
        match self {
            Leased::Own(_, lease) => Some(lease),
            Leased::Parent(_) => None,
        }
    }
}

enum Stage<T> {
    Start(Fleet),
    Acquiring(Acquire, usize),
    Running(Parent, Lease),
    /// Nested in the work of a call of the same fleet on this thread: runs
    /// under that call's lease (and ends, as that call does, if it is lost).
    Nested(Nested),
    /// The work is done; the lease's release is on its way to Redis.
    Releasing(Pin<Box<dyn Future<Output = ()> + Send>>, Option<T>),
    Done,
}

/// A call running under its parent's lease, woken if the lease is lost
/// (its waker registered under a key of its own, forgotten when it ends).
struct Nested {
    parent: Parent,
    key: u64,
}

impl Nested {
    fn new(parent: Parent) -> Nested {
        Nested {
            parent,
            key: LeaseHold::waker_key(),
        }
    }

    fn wake_on_loss(&self, waker: &std::task::Waker) {
        if let Some(hold) = &self.parent.hold {
            hold.wake_on_loss(self.key, waker);
        }
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        if let Some(hold) = &self.parent.hold {
            hold.forget_waker(self.key);
        }
    }
}

pin_project! {
    /// The work of a fleet group's call: acquires the lease when first
    /// polled (inside the local slot), then runs the work under it. A lost
    /// lease ends a rejecting call with [`Rejected::LeaseLost`] (its work is
    /// not polled again); a never-rejecting call runs on.
    pub struct Fleeted<F: Future> {
        // Dropped first: the lease held (or the wait for one) goes before the
        // work, whose `Drop` is the user's code and may call the group (a
        // call that then needs a lease of its own finds this one free, and
        // a wait left is not handed the lease the call waits for).
        stage: Stage<F::Output>,
        #[pin]
        work: F,
        never_reject: bool,
    }
}

impl<F: Future> Fleeted<F> {
    pub(crate) fn new(fleet: &Fleet, work: F, never_reject: bool) -> Fleeted<F> {
        Fleeted {
            work,
            stage: Stage::Start(fleet.clone()),
            never_reject,
        }
    }
}

impl<F: Future> Future for Fleeted<F> {
    type Output = Result<F::Output, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.stage {
                Stage::Start(fleet) => {
                    *this.stage = match parent(fleet) {
                        Some(parent) => Stage::Nested(Nested::new(parent)),
                        None => Stage::Acquiring(
                            Acquire::start(fleet.inner().clone(), *this.never_reject),
                            id(fleet),
                        ),
                    };
                }
                Stage::Acquiring(acquire, fleet) => match ready!(Pin::new(acquire).poll(cx)) {
                    Ok(lease) => {
                        *this.stage = Stage::Running(Parent::holding(*fleet, &lease), lease)
                    }
                    Err(rejected) => {
                        *this.stage = Stage::Done;
                        return Poll::Ready(Err(rejected));
                    }
                },
                Stage::Nested(nested) => {
                    if nested.parent.is_lost() && !*this.never_reject {
                        *this.stage = Stage::Done;
                        return Poll::Ready(Err(Rejected::LeaseLost));
                    }
                    nested.wake_on_loss(cx.waker());
                    let parent = nested.parent.clone();
                    let out = ready!(with_parent(parent, || this.work.as_mut().poll(cx)));
                    *this.stage = Stage::Done;
                    return Poll::Ready(Ok(out));
                }
                Stage::Running(parent, lease) => {
                    if lease.is_lost() && !*this.never_reject {
                        *this.stage = Stage::Done;
                        return Poll::Ready(Err(Rejected::LeaseLost));
                    }
                    lease.wake_on_loss(cx.waker());
                    let out = ready!(with_parent(parent.clone(), || this.work.as_mut().poll(cx)));
                    // The call (and its local slot) ends once Redis has the
                    // release, so a process that exits next leaves nothing.
                    let Stage::Running(_, lease) = std::mem::replace(this.stage, Stage::Done)
                    else {
                        unreachable!()
                    };
                    *this.stage = Stage::Releasing(Box::pin(lease.release()), Some(out));
                }
                Stage::Releasing(release, out) => {
                    ready!(release.as_mut().poll(cx));
                    let out = out.take().expect("the output is kept until released");
                    *this.stage = Stage::Done;
                    return Poll::Ready(Ok(out));
                }
                Stage::Done => panic!("`Fleeted` polled after completion"),
            }
        }
    }
}

/// Runs `f` under a lease, parking the thread for it (the sync call path,
/// inside its local slot; see [`waiter::acquire_sync`] for how it parks), or under its parent's if it is nested in the work
/// of a call of the same fleet on this thread. A lease lost meanwhile cannot
/// stop `f`: the call finishes and the loss is counted (and reported).
pub(crate) fn run<T>(
    fleet: &Fleet,
    never_reject: bool,
    f: impl FnOnce() -> T,
) -> Result<T, Rejected> {
    if parent(fleet).is_some() {
        return Ok(f());
    }
    let lease = waiter::acquire_sync(fleet.inner().clone(), never_reject)?;
    Ok(run_leased(Leased::own(fleet, lease), f))
}

/// Runs `f` under `leased` (its token visible to [`token`], calls nested in
/// it sharing it); then, if the lease is its own, releases it and parks the
/// thread until Redis has the release (so a process that exits next leaves
/// nothing behind). A panic of `f` drops the lease while unwinding: released
/// in the background. The blocking call path runs this on the executor's
/// thread, so the lease ends with the closure, not with the caller's future.
pub(crate) fn run_leased<T>(leased: Leased, f: impl FnOnce() -> T) -> T {
    let (lease, parent) = match leased {
        Leased::Own(parent, lease) => (lease, parent),
        Leased::Parent(parent) => return with_parent(parent, f),
    };
    let out = with_parent(parent, f);
    if super::client::on_fleet_thread() {
        // The release is that thread's to send: in the background.
        drop(lease);
        return out;
    }
    let (sent, released) = std::sync::mpsc::sync_channel(1);
    super::client::runtime().spawn(async move {
        lease.release().await;
        let _ = sent.send(());
    });
    let _ = released.recv();
    out
}

/// A call's lease of `fleet`, for a call that holds its local slot (a
/// permit, a blocking call): its parent's if it is nested in the work of a
/// call of the same fleet on this thread (decided now), else a lease of its
/// own, queued in the fleet in arrival order. Dropping the future leaves the
/// queue.
pub(crate) fn lease(fleet: &Fleet, never_reject: bool) -> LeaseFuture {
    match parent(fleet) {
        Some(parent) => LeaseFuture::Parent(Some(parent)),
        None => LeaseFuture::Acquire(
            waiter::Acquire::start(fleet.inner().clone(), never_reject),
            id(fleet),
        ),
    }
}

/// The future of [`lease`].
#[derive(Debug)]
pub(crate) enum LeaseFuture {
    Parent(Option<Parent>),
    Acquire(waiter::Acquire, usize),
}

impl Future for LeaseFuture {
    type Output = Result<Leased, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            LeaseFuture::Parent(parent) => Poll::Ready(Ok(Leased::Parent(
                parent
                    .take()
                    .expect("`LeaseFuture` polled after completion"),
            ))),
            LeaseFuture::Acquire(acquire, fleet) => {
                let lease = ready!(Pin::new(acquire).poll(cx))?;
                Poll::Ready(Ok(Leased::Own(Parent::holding(*fleet, &lease), lease)))
            }
        }
    }
}

/// A lease of `fleet` if one is free now (see [`waiter::try_now`]), or the
/// parent's for a nested call: for `try_acquire`, which never waits.
pub(crate) fn try_lease(fleet: &Fleet) -> Result<Leased, Rejected> {
    match parent(fleet) {
        Some(parent) => Ok(Leased::Parent(parent)),
        None => Ok(Leased::own(fleet, waiter::try_now(fleet.inner().clone())?)),
    }
}
