#![doc = include_str!("../README.md")]

pub use pool_macros::{group, pooled};

/// What pools report through `tracing` and `metrics` (features `tracing`,
/// `metrics`).
#[cfg(any(feature = "tracing", feature = "metrics"))]
pub use pool_runtime::observe;
#[cfg(feature = "tower")]
pub use pool_runtime::tower;
#[cfg(feature = "test-util")]
pub use pool_runtime::Isolation;
#[cfg(feature = "rayon")]
pub use pool_runtime::RayonExecutor;
pub use pool_runtime::{ceiling, fleet, Clock, ManualClock, SystemClock};
pub use pool_runtime::{config, register_group};
pub use pool_runtime::{groups, registered_groups, Group, GroupInfo, GroupSettings, GroupSpec};
#[cfg(feature = "stream")]
pub use pool_runtime::{stream, PooledStreamExt};
pub use pool_runtime::{
    Acquiring, AcquiringOwned, BlockingExecutor, BlockingJob, BuildError, DefaultExecutor,
    GroupAcquiring, GroupAcquiringOwned, GroupSubmit, GroupSubmitWait, OwnedPermit, Permit, Pool,
    PoolBuilder, Rejected, ShutdownTimedOut, Stats, Submit, SubmitWait, MAX_SLOTS,
};
pub use pool_runtime::{
    AdaptiveSettings, AutoscaleTiming, ExecutorKind, Kind, Order, ScalePolicy, UnknownChoice,
    Verdict,
};
#[cfg(feature = "tokio")]
pub use pool_runtime::{SpawnHandle, TokioClock};

/// What `#[pooled]` expansions call. Not a public API and not covered by
/// semver: names and signatures may change in any release (the facade pins
/// the exact versions of the runtime and the attribute it was released with,
/// so the expansion and this module always match).
#[doc(hidden)]
pub mod __private {
    pub use core::time::Duration;
    pub use pool_runtime::{
        register_group, AdaptiveSettings, ExecutorKind, Group, GroupSpec, Kind, Order, Rejected,
        ScalePolicy, Verdict,
    };

    /// Whether this build has the `rayon` executor (`executor = "rayon"`
    /// fails to compile without it).
    pub const RAYON: bool = cfg!(feature = "rayon");
    /// Whether this build has fleet limits (`fleet_limit = N` fails to
    /// compile without the `redis` feature).
    pub const REDIS: bool = cfg!(feature = "redis");
    pub use pool_runtime::fleet::OnUnreachable;
    pub use std::boxed::Box;
    use std::future::Future;

    /// A `blocking` function's argument on its way to the closure that runs
    /// on the blocking executor: made only by [`blocking_argument`], which
    /// requires the argument to be `Send + 'static`, where the attribute
    /// points the error at the parameter's type. The closure needs no
    /// `Send` of its own for it then, so the error is not reported a second
    /// time, on the attribute.
    pub struct BlockingArgument<T>(T);

    // Safety: only `blocking_argument` makes one, and only of a `T: Send`.
    unsafe impl<T> Send for BlockingArgument<T> {}

    impl<T> BlockingArgument<T> {
        /// The argument, inside the closure.
        #[inline]
        pub fn into_inner(self) -> T {
            self.0
        }
    }

    /// See [`BlockingArgument`].
    #[inline]
    pub fn blocking_argument<T: Send + 'static>(value: T) -> BlockingArgument<T> {
        BlockingArgument(value)
    }

    /// Runs the body of a sync function that returns a future: it only builds
    /// the future, so it runs at once, without a slot; the expansion then
    /// submits the built future. A function, not a closure called in place, so
    /// the body's `return`s stay its own without a lint on the expansion.
    #[inline]
    pub fn build_future<F: Future>(body: impl FnOnce() -> F) -> F {
        body()
    }

    /// Waits for admission, then runs `fut` holding a slot; rejections returned.
    #[inline]
    pub fn submit<F: Future>(
        group: &'static Group,
        weight: i64,
        fut: F,
    ) -> impl Future<Output = Result<F::Output, Rejected>> {
        group.submit(weight, fut)
    }

    /// An `overload = path` function's call: like [`submit`], judging the
    /// result for an adaptive group: an error `is_overload` accepts is an
    /// overload, another error says nothing about the server. The matching is
    /// done here, not in generated code, so the expansion binds no names a
    /// user's constants could shadow; and `E` comes from `fut`, so a predicate
    /// of the wrong type is reported on the predicate.
    #[inline]
    pub fn submit_overload<F, T, E>(
        group: &'static Group,
        weight: i64,
        fut: F,
        is_overload: impl FnOnce(&E) -> bool,
    ) -> impl Future<Output = Result<Result<T, E>, Rejected>>
    where
        F: Future<Output = Result<T, E>>,
    {
        group.submit_judged(weight, fut, move |out: &Result<T, E>| match out {
            Ok(_) => Verdict::Success,
            Err(error) if is_overload(error) => Verdict::Overload,
            Err(_) => Verdict::Ignore,
        })
    }

    /// Never rejects: waits while paused, ignores the waiting bound and timeout.
    #[inline]
    pub fn submit_wait<F: Future>(
        group: &'static Group,
        weight: i64,
        fut: F,
    ) -> impl Future<Output = F::Output> {
        group.submit_wait(weight, fut)
    }

    /// Parks the calling thread until admitted, then runs `f` inline.
    #[inline]
    pub fn run<T>(
        group: &'static Group,
        weight: i64,
        f: impl FnOnce() -> T,
    ) -> Result<T, Rejected> {
        group.run_weighted(weight, f)
    }

    /// The never-rejecting form of [`run`].
    #[inline]
    pub fn run_wait<T>(group: &'static Group, weight: i64, f: impl FnOnce() -> T) -> T {
        group.run_wait(weight, f)
    }

    /// Runs `f` on the blocking executor while it holds a slot.
    #[inline]
    pub fn submit_blocking<T: Send + 'static>(
        group: &'static Group,
        weight: i64,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, Rejected>> {
        group.submit_blocking(weight, f)
    }

    /// The never-rejecting form of [`submit_blocking`].
    #[inline]
    pub fn submit_blocking_wait<T: Send + 'static>(
        group: &'static Group,
        weight: i64,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T> {
        group.submit_blocking_wait(weight, f)
    }
}
