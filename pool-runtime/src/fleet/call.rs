//! A group call under a fleet limit: once it holds its local slot, it
//! acquires a lease, runs, and releases both together.

use super::handle::Fleet;
use super::lease::Lease;
use super::waiter::{self, Acquire};
use crate::pool::rejected::Rejected;
use pin_project_lite::pin_project;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

thread_local! {
    /// The fencing token of the fleet call running on this thread.
    static TOKEN: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The fencing token of the fleet lease the current call holds: inside the
/// work of a call of a fleet group (async or sync), the token of its lease;
/// elsewhere (or under the local fallback) `None`. See
/// [`Lease::token`](super::Lease::token).
pub fn token() -> Option<u64> {
    TOKEN.with(Cell::get)
}

/// Sets the thread's token while `f` runs.
fn with_token<T>(token: Option<u64>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            TOKEN.with(|cell| cell.set(self.0));
        }
    }
    let _restore = Restore(TOKEN.with(|cell| cell.replace(token)));
    f()
}

enum Stage<T> {
    Start(Fleet),
    Acquiring(Acquire),
    Running(Lease),
    /// The work is done; the lease's release is on its way to Redis.
    Releasing(Pin<Box<dyn Future<Output = ()> + Send>>, Option<T>),
    Done,
}

pin_project! {
    /// The work of a fleet group's call: acquires the lease when first
    /// polled (inside the local slot), then runs the work under it. A lost
    /// lease ends a rejecting call with [`Rejected::LeaseLost`] (its work is
    /// not polled again); a never-rejecting call runs on.
    pub struct Fleeted<F: Future> {
        #[pin]
        work: F,
        stage: Stage<F::Output>,
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
                    let acquire = Acquire::start(fleet.inner().clone(), *this.never_reject);
                    *this.stage = Stage::Acquiring(acquire);
                }
                Stage::Acquiring(acquire) => match ready!(Pin::new(acquire).poll(cx)) {
                    Ok(lease) => *this.stage = Stage::Running(lease),
                    Err(rejected) => {
                        *this.stage = Stage::Done;
                        return Poll::Ready(Err(rejected));
                    }
                },
                Stage::Running(lease) => {
                    if lease.is_lost() && !*this.never_reject {
                        *this.stage = Stage::Done;
                        return Poll::Ready(Err(Rejected::LeaseLost));
                    }
                    lease.wake_on_loss(cx.waker());
                    let out = ready!(with_token(lease.token(), || this.work.as_mut().poll(cx)));
                    // The call (and its local slot) ends once Redis has the
                    // release, so a process that exits next leaves nothing.
                    let Stage::Running(lease) = std::mem::replace(this.stage, Stage::Done) else {
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
/// inside its local slot). A lease lost meanwhile cannot stop `f`: the call
/// finishes and the loss is counted (and reported).
pub(crate) fn run<T>(
    fleet: &Fleet,
    never_reject: bool,
    f: impl FnOnce() -> T,
) -> Result<T, Rejected> {
    let lease = waiter::acquire_blocking(fleet.inner().clone(), never_reject)?;
    Ok(run_leased(lease, f))
}

/// Runs `f` under `lease` (its token visible to [`token`]), then releases
/// the lease and parks the thread until Redis has the release (so a process
/// that exits next leaves nothing behind). A panic of `f` drops the lease
/// while unwinding: released in the background. The blocking call path runs
/// this on the executor's thread, so the lease ends with the closure, not
/// with the caller's future.
pub(crate) fn run_leased<T>(lease: Lease, f: impl FnOnce() -> T) -> T {
    let out = with_token(lease.token(), f);
    let (sent, released) = std::sync::mpsc::sync_channel(1);
    super::client::runtime().spawn(async move {
        lease.release().await;
        let _ = sent.send(());
    });
    let _ = released.recv();
    out
}

/// Starts acquiring a lease of `fleet` for a call that holds its local slot
/// (a permit, a blocking call): the future resolves to the lease, queued in
/// the fleet in arrival order. Dropping it leaves the queue.
pub(crate) fn lease(fleet: &Fleet, never_reject: bool) -> waiter::Acquire {
    waiter::Acquire::start(fleet.inner().clone(), never_reject)
}

/// A lease of `fleet` if one is free now (see [`waiter::try_now`]): for
/// `try_acquire`, which never waits.
pub(crate) fn try_lease(fleet: &Fleet) -> Result<Lease, Rejected> {
    waiter::try_now(fleet.inner().clone())
}
