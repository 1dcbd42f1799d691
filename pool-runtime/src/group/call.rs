//! The futures of a group's calls: a local call, or (feature `redis`) a call
//! whose work runs under a fleet lease too (see [`fleet`](crate::fleet)).

use crate::call::permit::{Acquiring, AcquiringOwned, OwnedPermit, Permit};
use crate::call::submit::{Submit, SubmitWait};
use crate::group::ceiling::Ceilinged;
use crate::pool::rejected::Rejected;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "redis")]
pub(crate) use crate::fleet::Fleeted as FleetWork;
#[cfg(not(feature = "redis"))]
pub(crate) use never::Never as FleetWork;

#[cfg(not(feature = "redis"))]
mod never {
    use crate::pool::rejected::Rejected;
    use std::convert::Infallible;
    use std::future::Future;
    use std::marker::PhantomData;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Without the `redis` feature no call has a fleet lease: this work is
    /// never built.
    pub(crate) struct Never<F>(Infallible, PhantomData<F>);

    impl<F: Future> Future for Never<F> {
        type Output = Result<F::Output, Rejected>;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            match self.0 {}
        }
    }
}

#[cfg(feature = "redis")]
pin_project! {
    /// A group call: local, or under a fleet lease.
    #[project = CallProj]
    enum Call<L, G> {
        Local { #[pin] call: L },
        Fleet { #[pin] call: G },
    }
}

#[cfg(not(feature = "redis"))]
pin_project! {
    /// A group call: without the `redis` feature always local, so that its
    /// poll and drop do not dispatch on a variant that is never built.
    struct Call<L, G> {
        #[pin]
        call: L,
        fleet: std::marker::PhantomData<G>,
    }
}

impl<L: Future, G: Future> Call<L, G> {
    fn local(call: L) -> Self {
        #[cfg(feature = "redis")]
        return Call::Local { call };
        #[cfg(not(feature = "redis"))]
        Call {
            call,
            fleet: std::marker::PhantomData,
        }
    }

    /// Polls the call; a fleet call's output goes through `fleet`.
    #[inline]
    fn poll_call(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        fleet: impl FnOnce(G::Output) -> L::Output,
    ) -> Poll<L::Output> {
        #[cfg(feature = "redis")]
        return match self.project() {
            CallProj::Local { call } => call.poll(cx),
            CallProj::Fleet { call } => call.poll(cx).map(fleet),
        };
        #[cfg(not(feature = "redis"))]
        {
            let _ = fleet;
            self.project().call.poll(cx)
        }
    }
}

pin_project! {
    /// The future of [`Group::submit`](crate::Group::submit): the work's
    /// output, or why the call was turned away.
    ///
    /// # Cancel safety
    ///
    /// As [`Submit`]: dropping it at any point loses nothing, and releases
    /// whatever it holds (its slot, its ceiling slot, its fleet lease or
    /// place in the fleet's queue).
    #[must_use = "futures do nothing unless polled"]
    pub struct GroupSubmit<'a, F: Future> {
        #[pin]
        call: Call<Ceilinged<Submit<'a, F>>, Ceilinged<Submit<'a, FleetWork<F>>>>,
    }
}

impl<'a, F: Future> GroupSubmit<'a, F> {
    pub(crate) fn local(call: Ceilinged<Submit<'a, F>>) -> Self {
        GroupSubmit {
            call: Call::local(call),
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn fleet(call: Ceilinged<Submit<'a, FleetWork<F>>>) -> Self {
        GroupSubmit {
            call: Call::Fleet { call },
        }
    }
}

impl<F: Future> Future for GroupSubmit<'_, F> {
    type Output = Result<F::Output, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .call
            .poll_call(cx, |out| out.and_then(|out| out))
    }
}

impl<F: Future> fmt::Debug for GroupSubmit<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSubmit").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Group::submit_wait`](crate::Group::submit_wait): a
    /// call that is never turned away.
    ///
    /// # Cancel safety
    ///
    /// As [`GroupSubmit`].
    #[must_use = "futures do nothing unless polled"]
    pub struct GroupSubmitWait<'a, F: Future> {
        #[pin]
        call: Call<Ceilinged<SubmitWait<'a, F>>, Ceilinged<SubmitWait<'a, FleetWork<F>>>>,
    }
}

impl<'a, F: Future> GroupSubmitWait<'a, F> {
    pub(crate) fn local(call: Ceilinged<SubmitWait<'a, F>>) -> Self {
        GroupSubmitWait {
            call: Call::local(call),
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn fleet(call: Ceilinged<SubmitWait<'a, FleetWork<F>>>) -> Self {
        GroupSubmitWait {
            call: Call::Fleet { call },
        }
    }
}

impl<F: Future> Future for GroupSubmitWait<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll_call(cx, |out| match out {
            Ok(out) => out,
            // A never-rejecting fleet call waits out an unreachable Redis
            // and runs on after a lost lease; only a panic of the fleet's
            // own task (a bug) gets here.
            Err(rejected) => panic!("a never-rejecting fleet call failed: {rejected}"),
        })
    }
}

impl<F: Future> fmt::Debug for GroupSubmitWait<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSubmitWait").finish_non_exhaustive()
    }
}

/// A group permit's wait when it is more than its pool's (a ceiling is set,
/// or the group has a fleet limit): boxed, as a gated submit's gate is.
type Gated<'a, P> = Pin<Box<dyn Future<Output = Result<P, Rejected>> + Send + Sync + 'a>>;

pin_project! {
    /// A group permit's wait: its pool's alone, or the gated one.
    #[project = AcquisitionProj]
    enum Acquisition<'a, L, P> {
        Plain { #[pin] acquiring: L },
        Gated { gated: Gated<'a, P> },
    }
}

impl<L: Future<Output = Result<P, Rejected>>, P> Future for Acquisition<'_, L, P> {
    type Output = Result<P, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AcquisitionProj::Plain { acquiring } => acquiring.poll(cx),
            AcquisitionProj::Gated { gated } => gated.as_mut().poll(cx),
        }
    }
}

pin_project! {
    /// The future of [`Group::acquire`](crate::Group::acquire): a
    /// [`Permit`], or why the call was turned away.
    ///
    /// # Cancel safety
    ///
    /// As [`Acquiring`]: dropping it at any point loses nothing, and
    /// releases whatever it holds (its place in the queue, its ceiling slot,
    /// its fleet lease or place in the fleet's queue).
    #[must_use = "futures do nothing unless polled"]
    pub struct GroupAcquiring {
        #[pin]
        inner: Acquisition<'static, Acquiring<'static>, Permit<'static>>,
    }
}

impl GroupAcquiring {
    pub(crate) fn plain(acquiring: Acquiring<'static>) -> Self {
        GroupAcquiring {
            inner: Acquisition::Plain { acquiring },
        }
    }

    pub(crate) fn gated(gated: Gated<'static, Permit<'static>>) -> Self {
        GroupAcquiring {
            inner: Acquisition::Gated { gated },
        }
    }
}

impl Future for GroupAcquiring {
    type Output = Result<Permit<'static>, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl fmt::Debug for GroupAcquiring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupAcquiring").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Group::acquire_owned`](crate::Group::acquire_owned):
    /// an [`OwnedPermit`], or why the call was turned away.
    ///
    /// # Cancel safety
    ///
    /// As [`GroupAcquiring`].
    #[must_use = "futures do nothing unless polled"]
    pub struct GroupAcquiringOwned<'a> {
        #[pin]
        inner: Acquisition<'a, AcquiringOwned, OwnedPermit>,
    }
}

impl<'a> GroupAcquiringOwned<'a> {
    pub(crate) fn plain(acquiring: AcquiringOwned) -> Self {
        GroupAcquiringOwned {
            inner: Acquisition::Plain { acquiring },
        }
    }

    pub(crate) fn gated(gated: Gated<'a, OwnedPermit>) -> Self {
        GroupAcquiringOwned {
            inner: Acquisition::Gated { gated },
        }
    }
}

impl Future for GroupAcquiringOwned<'_> {
    type Output = Result<OwnedPermit, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl fmt::Debug for GroupAcquiringOwned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupAcquiringOwned")
            .finish_non_exhaustive()
    }
}
