//! [`Pool`]: the public face of the admission core.

pub(crate) mod builder;
pub(crate) mod error;
pub(crate) mod order;
pub(crate) mod rejected;
pub(crate) mod shutdown;
pub(crate) mod stats;

use crate::admission::core::{Core, Mode};
use crate::call::acquire::Acquire;
use crate::call::blocking::{self, BlockingExecutor, DefaultExecutor, OwnedSlot};
use crate::call::park;
use crate::call::permit::{self, Acquiring, AcquiringOwned, OwnedPermit, Permit};
use crate::call::submit::{Guarded, JudgeFn, Submit, SubmitWait};
use crate::call::Form;
use crate::group::settings::GroupSettings;
use crate::pool::builder::{PoolBuilder, DEFAULT_SIZE};
use crate::pool::error::BuildError;
use crate::pool::order::{Kind, Order};
use crate::pool::rejected::Rejected;
use crate::pool::stats::Stats;
use crate::scale::LimitCause;
use crate::time::timer::Sleep;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A task pool: limits how many calls run at once, and in which order waiting
/// calls are admitted.
///
/// A pool is an admission controller, not a set of workers. A call waits in the
/// pool's queue (FIFO, LIFO or by weight), is admitted when a slot frees, and
/// runs *in the caller's own task* (or thread) while it holds the slot. So a
/// submitted future may borrow from the caller and need not be `Send` or
/// `'static`, and a pool is not tied to any runtime: the same pool (a `static`
/// even) serves any number of tokio runtimes, `futures::executor::block_on`,
/// and plain threads.
///
/// `Pool` is a cheap handle (an `Arc`); clones share the pool.
///
/// | to | call |
/// |---|---|
/// | build a fixed pool | [`Pool::fixed`], or `Pool::builder().order(..).size(n)` |
/// | build an autoscaled pool | `Pool::builder().kind(Kind::Autoscale).order(..).min(a).max(b)` |
/// | run async work | [`submit`](Pool::submit), [`submit_weighted`](Pool::submit_weighted) |
#[cfg_attr(
    feature = "tokio",
    doc = " | start work without waiting | [`spawn`](Pool::spawn) (feature `tokio`) |"
)]
#[cfg_attr(
    not(feature = "tokio"),
    doc = " | start work without waiting | `spawn` (feature `tokio`) |"
)]
/// | run blocking work | [`submit_blocking`](Pool::submit_blocking); sync callers: [`run`](Pool::run) |
/// | change the limit | [`scale`](Pool::scale), [`resize`](Pool::resize) |
/// | stop admitting for a while | [`pause`](Pool::pause), [`resume`](Pool::resume), [`is_paused`](Pool::is_paused) |
/// | end it | [`close`](Pool::close), [`shutdown`](Pool::shutdown), [`abort`](Pool::abort), [`scoped`](Pool::scoped) |
///
/// # Guarantees
///
/// * The running count never exceeds the limit at any admission, including
///   while scaling down under load (running work is never interrupted: the pool
///   admits nothing until `running < limit`).
/// * Hand-off, no barging: a freed slot goes to the next waiter chosen by the
///   order, never to a newcomer.
/// * Every call is accounted for: see [`Stats`].
///
/// # Reentrancy
///
/// A call into a pool made from inside work that holds one of its slots — a
/// *nested* call: polled within the parent's own poll (an awaited or joined
/// future, a task of a runtime driven inside a sync call), or made on the
/// thread running sync or blocking work — may run under its parent's slot
/// instead of waiting for another, so nested calls never deadlock a full
/// pool. The limit still holds for every call graph:
///
/// * one nested call at a time uses its parent's slot; the others wait in the
///   queue for a free slot or for that slot to come back, whichever comes
///   first (pausing or closing the pool and the waiting bound do not turn
///   them away; [`abort`](Pool::abort) does, as it does every waiting call);
/// * a nested call that outlives its parent (returned out of the work, or a
///   blocking job whose caller was dropped) keeps the slot busy until it ends;
#[cfg_attr(
    feature = "tokio",
    doc = " * work spawned through the pool ([`spawn`](Pool::spawn)), and tasks spawned"
)]
#[cfg_attr(
    not(feature = "tokio"),
    doc = " * work spawned through the pool (`spawn`), and tasks spawned"
)]
///   onto other threads, are independent calls with slots of their own.
///
/// The limit counts calls, and a call's slot is the parent's while a nested
/// call uses it: the pool cannot tell a parent that awaits its nested call
/// from one whose own work goes on beside it. Work that joins a request of
/// its own with a nested call (`join!(send(req), pool.submit(other))` in a
/// pool of one) has two requests in flight on one slot; make the parent's
/// own request a call of the pool too (`join!(pool.submit(send(req)),
/// pool.submit(other))`: one nested call at a time), or await the nested
/// call first.
///
/// Nested calls are counted in [`Stats::nested`], not in `running`.
///
/// # Cancel safety
///
/// Every call is cancel-safe: dropping its future while it waits removes it
/// from the queue at once; dropping it while it runs drops the work, then
/// frees the slot for the next waiter. (The slot is free when the work is
/// dropped, not when a server behind it notices: a request abandoned by a
/// client-side timeout may still be served while the next call is admitted.
/// A server that must never see more than N counts its own.) Blocking closures are the exception
/// the type system cannot stop: a thread cannot be interrupted, so the
/// closure runs to the end (holding its slot) and its result is discarded.
///
/// # Panics
///
/// No pool operation panics on bad input: settings are checked by
/// [`PoolBuilder::build`] (a [`BuildError`](crate::BuildError)) or clamped
/// (`scale`, `resize`), and turned-away calls are [`Rejected`] values. A
/// panic in a call's work frees its slot, is counted in
/// [`Stats::panicked`], and propagates to the caller.
///
/// # Examples
///
/// ```
/// use pool_runtime::Pool;
///
/// # futures::executor::block_on(async {
/// let pool = Pool::fixed(2);
/// let name = String::from("borrowed, not 'static");
/// let len = pool.submit(async { name.len() }).await?;
/// assert_eq!(len, 21);
/// # Ok::<(), pool_runtime::Rejected>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Pool {
    core: Arc<Core>,
    name: Option<Arc<str>>,
    executor: Option<Arc<dyn BlockingExecutor>>,
}

impl Pool {
    /// Starts configuring a pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Kind, Order, Pool};
    ///
    /// let pool = Pool::builder().order(Order::Lifo).size(4).build()?;
    /// assert_eq!(pool.kind(), Kind::Fixed);
    /// assert_eq!(pool.order(), Order::Lifo);
    /// assert_eq!(pool.size(), 4);
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// A fixed FIFO pool of `size` slots.
    ///
    /// A `size` of zero is raised to one, and one above
    /// [`MAX_SLOTS`](crate::MAX_SLOTS) lowered to it (use the builder to get
    /// an error instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Kind, Order, Pool, MAX_SLOTS};
    ///
    /// let pool = Pool::fixed(4);
    /// assert_eq!((pool.kind(), pool.order(), pool.size()), (Kind::Fixed, Order::Fifo, 4));
    /// assert_eq!(Pool::fixed(0).size(), 1, "zero is raised to one");
    /// assert_eq!(Pool::fixed(MAX_SLOTS + 1).size(), MAX_SLOTS);
    /// ```
    pub fn fixed(size: usize) -> Pool {
        Pool::builder()
            .size(size.clamp(1, crate::MAX_SLOTS))
            .build()
            .expect("a clamped fixed size always builds")
    }

    /// A pool with these settings, which must pass their check (a group
    /// clamps its settings first).
    pub(crate) fn from_settings(name: &'static str, settings: &GroupSettings) -> Pool {
        Pool::builder()
            .name(name)
            .settings(*settings)
            .build()
            .expect("clamped group settings always build")
            .marked_group()
    }

    /// This pool, just built, marked as a group's (see `Core::is_group`).
    fn marked_group(self) -> Pool {
        self.core.mark_group();
        self
    }

    /// A group's isolated instance (feature `test-util`): as
    /// [`from_settings`](Pool::from_settings), reporting under the group's
    /// name, but leaving the group's adaptive gauges to its shared pool.
    #[cfg(feature = "test-util")]
    pub(crate) fn isolated_instance(name: &'static str, settings: &GroupSettings) -> Pool {
        let builder = Pool::builder().name(name).settings(*settings);
        #[cfg(feature = "metrics")]
        let builder = builder.isolated();
        builder
            .build()
            .expect("clamped group settings always build")
            .marked_group()
    }

    pub(crate) fn from_parts(
        core: Arc<Core>,
        name: Option<Arc<str>>,
        executor: Option<Arc<dyn BlockingExecutor>>,
    ) -> Pool {
        Pool {
            core,
            name,
            executor,
        }
    }

    /// The name given at build time, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// let pool = Pool::builder().name("database").build()?;
    /// assert_eq!(pool.name(), Some("database"));
    /// assert_eq!(Pool::fixed(1).name(), None);
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Fixed or autoscaled.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Kind, Pool};
    ///
    /// assert_eq!(Pool::fixed(2).kind(), Kind::Fixed);
    /// let pool = Pool::builder().kind(Kind::Autoscale).min(1).max(4).build()?;
    /// assert_eq!(pool.kind(), Kind::Autoscale);
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn kind(&self) -> Kind {
        self.core.kind()
    }

    /// The admission order.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Order, Pool};
    ///
    /// assert_eq!(Pool::fixed(2).order(), Order::Fifo);
    /// let pool = Pool::builder().order(Order::Priority).build()?;
    /// assert_eq!(pool.order(), Order::Priority);
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn order(&self) -> Order {
        self.core.order()
    }

    // ---- submitting -------------------------------------------------------

    /// Runs `work` while holding a slot, and returns its output.
    ///
    /// The returned future waits for admission, then polls `work` in the
    /// caller's own task. On priority pools the call has weight 0.
    ///
    /// # Errors
    ///
    /// [`Rejected`]: the pool is paused or closed, the bound on waiting calls
    /// is reached, or the admission timeout passed. A rejected `work` is dropped
    /// without being polled.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the queue at once or frees the slot; see [`Submit`].
    ///
    /// # Panics
    ///
    /// A panic in `work` propagates to the caller; the slot is freed and the
    /// call counted in [`Stats::panicked`] when the future is dropped, as the
    /// unwinding task drops it (a caller that catches the panic and keeps
    /// the future holds the slot until it drops it).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(1);
    /// assert_eq!(pool.submit(async { 2 + 2 }).await, Ok(4));
    ///
    /// pool.pause();
    /// let mut polled = false;
    /// let rejected = pool.submit(async { polled = true }).await;
    /// assert_eq!(rejected, Err(Rejected::Paused));
    /// assert!(!polled, "a rejected future is dropped unpolled");
    /// # });
    /// ```
    pub fn submit<F: Future>(&self, work: F) -> Submit<'_, F> {
        Submit::new(&self.core, 0, Mode::Reject, work)
    }

    /// Like [`submit`](Pool::submit), with a weight: on a priority pool smaller
    /// weights are admitted first, equal weights first-come first-served. FIFO
    /// and LIFO pools ignore the weight, so one call site can serve a pool
    /// whose order is chosen by configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Order, Pool};
    /// use std::cell::RefCell;
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::builder().order(Order::Priority).size(1).build()?;
    /// let admitted = &RefCell::new(Vec::new());
    /// let call = |weight: i64| pool.submit_weighted(weight, async move { admitted.borrow_mut().push(weight) });
    ///
    /// let held = pool.acquire().await?; // the only slot: the calls below queue
    /// let (a, b, c, ()) = futures::join!(call(5), call(1), call(3), async { drop(held) });
    /// a.and(b).and(c)?;
    /// assert_eq!(*admitted.borrow(), [1, 3, 5], "smaller weights first");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn submit_weighted<F: Future>(&self, weight: i64, work: F) -> Submit<'_, F> {
        Submit::new(&self.core, weight, Mode::Reject, work)
    }

    /// Like [`submit_weighted`](Pool::submit_weighted), and tells an adaptive
    /// pool (see [`ScalePolicy::Adaptive`](crate::ScalePolicy::Adaptive)) how
    /// the call went: `judge` looks at the output and says whether the server
    /// was overloaded (an "overloaded" answer, a timeout: [`Verdict::Overload`](crate::Verdict::Overload)),
    /// did the work ([`Verdict::Success`](crate::Verdict::Success)), or neither ([`Verdict::Ignore`](crate::Verdict::Ignore)).
    /// Other pools ignore the verdict. A call nested in work of the same
    /// pool (running under its parent's slot) is judged too: its overload
    /// counts as a drop, as any call's, sent when the nested call started
    /// (so one started before a cut does not count against the new limit);
    /// its latency, part of its parent's, is no sample.
    ///
    /// # Errors
    ///
    /// As [`submit`](Pool::submit).
    ///
    /// # Cancel safety
    ///
    /// As [`submit`](Pool::submit); a cancelled call is not judged.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Verdict};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// let judge = |status: &u16| if *status == 503 { Verdict::Overload } else { Verdict::Success };
    /// let status = pool.submit_judged(0, async { 503 }, judge).await?;
    /// assert_eq!(status, 503, "the caller gets the output as it is");
    /// assert_eq!(pool.size(), 2, "a pool that is not adaptive ignores the verdict");
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// # }).unwrap();
    /// ```
    pub fn submit_judged<F: Future, J: FnOnce(&F::Output) -> crate::Verdict>(
        &self,
        weight: i64,
        work: F,
        judge: J,
    ) -> impl Future<Output = Result<F::Output, Rejected>> + use<'_, F, J> {
        // The call's own future, not an `async fn`'s: one whose poll unwound
        // (a waker's `clone` panicked) can be polled again (see `submit`).
        Guarded::judged(&*self.core, weight, Mode::Reject, work, JudgeFn(judge))
    }

    /// Waits for a slot and holds it in a [`Permit`] until the permit is
    /// dropped: for code that cannot hand its work to `submit` (a tower
    /// service reserving capacity in `poll_ready`, a slot kept until a
    /// response body ends). The same admission as `submit`: same order, same
    /// rejections, same accounting ([`Stats::running`] counts the permit),
    /// and a permit taken inside the work of a call of this pool borrows that
    /// call's slot.
    ///
    /// # Errors
    ///
    /// As [`submit`](Pool::submit).
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting, the call leaves the queue; the permit, once
    /// returned, is the only holder of the slot.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = pool_runtime::Pool::builder().size(1).build()?;
    /// let permit = pool.acquire().await?;
    /// assert_eq!(pool.stats().running, 1);
    /// assert!(pool.try_acquire().is_err(), "the only slot is held");
    /// drop(permit);
    /// assert_eq!(pool.stats().completed, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[inline]
    pub fn acquire(&self) -> Acquiring<'_> {
        Acquiring::new(&self.core, 0)
    }

    /// [`acquire`](Pool::acquire) with a weight (see
    /// [`submit_weighted`](Pool::submit_weighted)).
    ///
    /// # Errors
    ///
    /// As [`submit`](Pool::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Order, Pool};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::builder().order(Order::Priority).size(1).build()?;
    /// let held = pool.acquire().await?;
    /// let mut low = Box::pin(pool.acquire_weighted(9));
    /// let mut high = Box::pin(pool.acquire_weighted(1));
    /// assert!(futures::poll!(&mut low).is_pending());
    /// assert!(futures::poll!(&mut high).is_pending());
    ///
    /// drop(held);
    /// let permit = high.await?; // the smaller weight gets the freed slot
    /// assert!(futures::poll!(&mut low).is_pending());
    /// drop(permit);
    /// low.await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[inline]
    pub fn acquire_weighted(&self, weight: i64) -> Acquiring<'_> {
        Acquiring::new(&self.core, weight)
    }

    /// [`acquire_weighted`](Pool::acquire_weighted), returning a permit that
    /// owns a handle on the pool: `'static`, to move into a spawned task or
    /// a response body.
    ///
    /// # Errors
    ///
    /// As [`submit`](Pool::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(1);
    /// let permit = pool.acquire_owned(0).await?;
    /// let worker = std::thread::spawn(move || {
    ///     // ... work that holds the slot ...
    ///     drop(permit);
    /// });
    /// worker.join().unwrap();
    /// assert_eq!(pool.stats().running, 0);
    /// assert!(pool.try_acquire().is_ok(), "the slot came back");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[inline]
    pub fn acquire_owned(&self, weight: i64) -> AcquiringOwned {
        AcquiringOwned::new(self.core.clone(), weight)
    }

    /// An owned permit if the call would be admitted at once, without
    /// waiting; otherwise `None`, with nothing counted (see
    /// [`Acquire::try_fast`](crate::call::acquire::Acquire::try_fast)).
    #[cfg(feature = "tower")]
    pub(crate) fn acquire_owned_now(&self, weight: i64) -> Option<OwnedPermit> {
        crate::call::permit::acquire_owned_now(self.core.clone(), weight)
    }

    /// A permit if a slot is free now; never waits.
    ///
    /// # Errors
    ///
    /// [`Rejected::Full`] if no slot is free (as if no call could wait),
    /// otherwise as [`submit`](Pool::submit) (paused, closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// let pool = Pool::fixed(1);
    /// let permit = pool.try_acquire()?;
    /// assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    /// drop(permit);
    ///
    /// pool.pause();
    /// assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
    /// # Ok::<(), Rejected>(())
    /// ```
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        permit::try_acquire(&self.core, 0, false)
    }

    /// [`try_acquire`](Pool::try_acquire) with a weight, returning an owned
    /// permit.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Pool::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// let pool = Pool::fixed(1);
    /// let permit = pool.try_acquire_owned(0)?;
    /// assert_eq!(pool.try_acquire_owned(0).err(), Some(Rejected::Full));
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert!(pool.try_acquire_owned(0).is_ok());
    /// # Ok::<(), Rejected>(())
    /// ```
    pub fn try_acquire_owned(&self, weight: i64) -> Result<OwnedPermit, Rejected> {
        permit::try_acquire_owned(self.core.clone(), weight, false)
    }

    /// Runs a blocking closure on the blocking executor while it holds a slot.
    ///
    /// The slot travels with the closure: it is released on the executor's
    /// thread when the closure returns, so the number of closures running never
    /// exceeds the limit, even if the caller stops waiting.
    ///
    /// # Errors
    ///
    /// As [`submit`](Pool::submit); also [`Rejected::Closed`] if the executor
    /// drops the job unrun (it is shutting down).
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting for admission, the call leaves the queue; dropped
    /// after, the closure still runs to the end (a thread cannot be
    /// interrupted) and its result is discarded. Such a call is counted by how
    /// its closure ended — `completed`, and `panicked` too if it panicked
    /// (the panic, caught on the executor's thread, is dropped with the
    /// result) — not as `cancelled`, which counts only the blocking calls
    /// whose closure never ran.
    ///
    /// # Panics
    ///
    /// A panic in `f` is re-raised in the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// let job = |i: u32| {
    ///     let (now, peak) = (now.clone(), peak.clone());
    ///     pool.submit_blocking(move || {
    ///         peak.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
    ///         std::thread::sleep(Duration::from_millis(5));
    ///         now.fetch_sub(1, SeqCst);
    ///         i * 10
    ///     })
    /// };
    /// let outputs = futures::future::join_all((1..=6).map(job)).await;
    /// assert_eq!(outputs, [Ok(10), Ok(20), Ok(30), Ok(40), Ok(50), Ok(60)]);
    /// assert!(peak.load(SeqCst) <= 2, "never more closures running than slots");
    /// # });
    /// ```
    pub async fn submit_blocking<T, F>(&self, f: F) -> Result<T, Rejected>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.blocking_call(0, Mode::Reject, f).await
    }

    /// [`submit_blocking`](Pool::submit_blocking) with a weight.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Order, Pool, Rejected};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::builder().order(Order::Priority).size(1).build()?;
    /// assert_eq!(pool.submit_blocking_weighted(1, || 6 * 7).await, Ok(42));
    /// pool.close();
    /// assert_eq!(pool.submit_blocking_weighted(1, || 6 * 7).await, Err(Rejected::Closed));
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub async fn submit_blocking_weighted<T, F>(&self, weight: i64, f: F) -> Result<T, Rejected>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.blocking_call(weight, Mode::Reject, f).await
    }

    pub(crate) async fn blocking_call<T, F>(
        &self,
        weight: i64,
        mode: Mode,
        f: F,
    ) -> Result<T, Rejected>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.blocking_call_then(weight, mode, || std::future::ready(Ok(())), move |()| f())
            .await
    }

    /// [`blocking_call`](Pool::blocking_call) that, once the call holds its
    /// slot, awaits `then()` (a fleet lease) and hands its output to `f` on
    /// the executor's thread. `then` failing ends the call (as cancelled)
    /// with its rejection.
    pub(crate) async fn blocking_call_then<T, L, A, F>(
        &self,
        weight: i64,
        mode: Mode,
        then: impl FnOnce() -> A,
        f: F,
    ) -> Result<T, Rejected>
    where
        A: Future<Output = Result<L, Rejected>>,
        L: Send + 'static,
        F: FnOnce(L) -> T + Send + 'static,
        T: Send + 'static,
    {
        // The caller's tracing context, entered around the job (feature `tracing`).
        #[cfg(feature = "tracing")]
        let caller = crate::obs::Caller::current();
        let slot = OwnedSlot::acquire(self.core.clone(), weight, mode).await?;
        let extra = then().await?;
        #[cfg(feature = "tracing")]
        let run = move || caller.in_scope(|| slot.run(move || f(extra)));
        #[cfg(not(feature = "tracing"))]
        let run = move || slot.run(move || f(extra));
        #[cfg(feature = "tokio")]
        if self.executor.is_none() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                return match handle.spawn_blocking(run).await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(payload)) => blocking::resume(payload),
                    Err(join) if join.is_panic() => blocking::resume(join.into_panic()),
                    Err(_) => Err(Rejected::Closed),
                };
            }
        }
        let (sender, result) = blocking::job_channel();
        let executor: &dyn BlockingExecutor = self.executor.as_deref().unwrap_or(&DefaultExecutor);
        // The job's own panic is in `run()`'s result; a panic out of it is
        // a waker's, re-raised by the slot's release (the waiter handed the
        // slot was woken all the same). It goes to the caller as it would
        // through `spawn_blocking`: a job that ran is never reported as
        // never run (`Rejected::Closed`, the sender dropped unsent).
        executor.execute(Box::new(move || {
            sender.send(panic::catch_unwind(AssertUnwindSafe(run)).and_then(|out| out));
        }));
        result.await
    }

    /// Runs a closure on the calling thread while it holds a slot: the thread
    /// parks until the call is admitted, in the same queue and order as async
    /// calls. For sync callers; inside async code prefer [`submit`](Pool::submit).
    ///
    /// Order has a price here: while more threads than the pool's slots and
    /// than the machine's cores call at once, a freed slot goes to the thread
    /// that has waited longest, which is parked, and the thread that freed it
    /// parks behind the others, so every call costs a thread switch (tens of
    /// times an unfair `Mutex` + `Condvar` semaphore's cost for a trivial
    /// body; BENCHMARKS.md, case 8). Give such callers at least as many slots
    /// as cores, make the calls from tasks, or opt into bounded unfairness
    /// with [`sync_barging`](GroupSettings::sync_barging): a slot that frees
    /// then goes to whichever thread asks first, usually the one that freed
    /// it, and a caller queues only after waiting its bound.
    ///
    /// # Errors
    ///
    /// As [`submit`](Pool::submit). The admission timeout is measured on this
    /// thread.
    ///
    /// On a multi-thread tokio runtime's worker, a call that must wait first
    /// hands the worker's other tasks to another thread (`block_in_place`),
    /// so it neither stalls them nor deadlocks on a slot one of them holds.
    ///
    /// # Panics
    ///
    /// A panic in `f` frees the slot and propagates. A call that must wait on
    /// the thread driving a current-thread tokio runtime panics (parking that
    /// thread would stop the tasks holding the slots: a deadlock); make the
    /// caller async, or run it with `spawn_blocking`. Likewise a call nested in
    /// work of this pool that must wait while the work's slot is lent to
    /// another nested call of the same task (see *Reentrancy*).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// let pool = Pool::fixed(1);
    /// assert_eq!(pool.run(|| 6 * 7), Ok(42));
    ///
    /// let held = pool.try_acquire_owned(0)?;
    /// let waiter = {
    ///     let pool = pool.clone();
    ///     std::thread::spawn(move || pool.run(|| "ran once the slot was free"))
    /// };
    /// while pool.stats().waiting == 0 {
    ///     std::thread::yield_now(); // the thread parks in the queue
    /// }
    /// drop(held);
    /// assert_eq!(waiter.join().unwrap(), Ok("ran once the slot was free"));
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// ```
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T, Rejected> {
        self.run_call(0, Mode::Reject, f)
    }

    /// [`run`](Pool::run) with a weight.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Order, Pool, Rejected};
    ///
    /// let pool = Pool::builder().order(Order::Priority).size(1).build()?;
    /// assert_eq!(pool.run_weighted(-5, || "urgent"), Ok("urgent"));
    /// pool.pause();
    /// assert_eq!(pool.run_weighted(-5, || "urgent"), Err(Rejected::Paused));
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn run_weighted<T>(&self, weight: i64, f: impl FnOnce() -> T) -> Result<T, Rejected> {
        self.run_call(weight, Mode::Reject, f)
    }

    pub(crate) fn run_call<T>(
        &self,
        weight: i64,
        mode: Mode,
        f: impl FnOnce() -> T,
    ) -> Result<T, Rejected> {
        self.run_sync(
            weight,
            mode,
            true,
            || {
                Ok(self
                    .core
                    .admission_timeout()
                    .filter(|_| mode == Mode::Reject))
            },
            // Still waiting at the deadline: give up, unless admitted
            // meanwhile.
            |acquire| acquire.give_up(Rejected::TimedOut),
            f,
        )
    }

    /// A never-rejecting sync call (the ceiling's) that waits only as long
    /// as `on_wait` allows once it has to wait (`Err`: not at all; `None`:
    /// for good); giving up leaves the queue (counted as cancelled here)
    /// and returns `on_timeout()`.
    pub(crate) fn run_call_patient<T>(
        &self,
        weight: i64,
        on_wait: impl FnOnce() -> Result<Option<Duration>, Rejected>,
        on_timeout: impl FnOnce() -> Rejected,
        f: impl FnOnce() -> T,
    ) -> Result<T, Rejected> {
        self.run_sync(
            weight,
            Mode::Wait,
            false,
            on_wait,
            // Past the deadline: admitted meanwhile, or given up (returning
            // drops the call, which leaves the queue).
            |acquire| match acquire
                .poll_acquire(&mut Context::from_waker(crate::call::answer_now()))
            {
                Poll::Ready(admitted) => admitted,
                Poll::Pending => Err(on_timeout()),
            },
            f,
        )
    }

    /// A sync call: admitted at once, or parked on this thread for as long
    /// as `wait_for` says once it has to wait (`Err`: not at all; `None`: for
    /// good), then `at_deadline` decides; `f` runs holding the slot. With
    /// `barge`, on a pool with sync barging, it waits in the room first
    /// (see [`PoolBuilder::sync_barging`]), within the same time.
    fn run_sync<T>(
        &self,
        weight: i64,
        mode: Mode,
        barge: bool,
        wait_for: impl FnOnce() -> Result<Option<Duration>, Rejected>,
        at_deadline: impl FnOnce(std::pin::Pin<&mut Acquire<&Core>>) -> Result<(), Rejected>,
        f: impl FnOnce() -> T,
    ) -> Result<T, Rejected> {
        // Untimed: a sync caller's deadline is its own park's (`wait_for`,
        // `at_deadline`), on its thread; the timer thread is not started
        // for it.
        let mut acquire = pin!(Acquire::new(&*self.core, weight, mode, Form::Run).untimed());
        let mut wait_for = Some(wait_for);
        let mut waited: Option<Result<Option<Duration>, Rejected>> = None;
        // Not in a current-thread runtime's context, where the room's wait
        // could park the thread that drives the slots' holders.
        let barging = self.core.sync_barging().filter(|_| barge);
        if let Some(bound) = barging.filter(|_| !park::in_current_thread_runtime()) {
            let timeout = (wait_for.take().expect("called once"))();
            let start = Instant::now();
            // The room's time counts against the admission timeout.
            let room_for = match &timeout {
                Ok(Some(timeout)) => bound.min(*timeout),
                _ => bound,
            };
            // The room's wait parks this thread: in a blocking region, as
            // the queue's (a multi-thread runtime's worker hands its tasks
            // to another thread first).
            let deadline = start.checked_add(room_for);
            if acquire.as_mut().try_fast()
                || park::blocking_region(|| acquire.as_mut().barge(deadline))
            {
                let out = acquire.as_mut().run_work(f);
                acquire.finish();
                return Ok(out);
            }
            waited = Some(timeout.map(|t| t.map(|t| t.saturating_sub(start.elapsed()))));
        }
        let first = acquire
            .as_mut()
            .poll_acquire(&mut Context::from_waker(crate::call::answer_now()));
        match first {
            Poll::Ready(admitted) => admitted?,
            Poll::Pending if acquire.waits_for_its_own_thread() => {
                // (Unwinding drops the call, which leaves the queue.)
                panic!("{}", park::NESTED_SYNC_WAIT);
            }
            Poll::Pending => {
                // (Returning drops the call, which leaves the queue.)
                let timeout = match waited {
                    Some(waited) => waited?,
                    None => (wait_for.take().expect("called once"))()?,
                };
                let poll = poll_fn(|cx| acquire.as_mut().poll_acquire(cx));
                match park::wait(pin!(poll), timeout) {
                    Some(admitted) => admitted?,
                    None => at_deadline(acquire.as_mut())?,
                }
            }
        }
        let out = acquire.as_mut().run_work(f);
        acquire.finish();
        Ok(out)
    }

    /// Submits `work` without waiting for it, for `'static + Send` work: the
    /// call takes its place in the
    /// queue now, in call order, and runs on a tokio task. Rejections that are
    /// known at once (paused, closed, full) are returned here; later ones
    /// (timed out, closed while waiting) through the handle. (A zero
    /// admission timeout on a full pool may be either: returned here if the
    /// timer has fired by the time the call is queued, else through the
    /// handle.)
    ///
    /// A spawned call is independent even when spawned from inside work that
    /// holds a slot of this pool: it takes a slot of its own (see
    /// *Reentrancy* above). So work that awaits what it spawned, in a pool
    /// whose every slot it and its like hold, waits as any other call would.
    ///
    /// # Errors
    ///
    /// [`Rejected`] as for [`submit`](Pool::submit).
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime, like `tokio::spawn`. A panic
    /// in `work` is re-raised when the handle is awaited.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pool_runtime::Rejected> {
    /// let pool = Pool::fixed(2);
    /// let handle = pool.spawn(async { 6 * 7 })?; // queued now, runs on a tokio task
    /// assert_eq!(handle.await?, 42);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn spawn<F>(&self, work: F) -> Result<crate::call::spawn::SpawnHandle<F::Output>, Rejected>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::call::spawn::spawn(self.core.clone(), 0, work)
    }

    /// [`spawn`](Pool::spawn) with a weight.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Pool::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Order, Pool, Rejected};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder().order(Order::Priority).size(1).build()?;
    /// assert_eq!(pool.spawn_weighted(1, async { "done" })?.await, Ok("done"));
    ///
    /// pool.pause();
    /// let refused = pool.spawn_weighted(1, async { "done" }).err();
    /// assert_eq!(refused, Some(Rejected::Paused), "known at once: returned here");
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn spawn_weighted<F>(
        &self,
        weight: i64,
        work: F,
    ) -> Result<crate::call::spawn::SpawnHandle<F::Output>, Rejected>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::call::spawn::spawn(self.core.clone(), weight, work)
    }

    /// The never-rejecting async call of `#[pooled]` functions that cannot
    /// return an error.
    pub(crate) fn submit_wait<F: Future>(&self, weight: i64, work: F) -> SubmitWait<'_, F> {
        SubmitWait::new(&self.core, weight, work)
    }

    // ---- scaling ----------------------------------------------------------

    /// The current slot count (the limit on running calls).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pool_runtime::Pool::fixed(4);
    /// assert_eq!(pool.size(), 4);
    /// pool.scale(-1);
    /// assert_eq!(pool.size(), 3);
    /// ```
    pub fn size(&self) -> usize {
        self.core.limit()
    }

    /// Changes the slot count by `delta` (negative shrinks) and returns the new
    /// size, clamped to `[0, MAX_SLOTS]` for fixed pools and `[min, max]` for
    /// autoscaled ones.
    ///
    /// Growing admits waiting calls at once. Shrinking never interrupts running
    /// work: the pool admits nothing until the running count is below the new
    /// size. A fixed pool scaled to 0 holds its queue until scaled up again.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pool_runtime::Pool::fixed(3);
    /// assert_eq!(pool.scale(2), 5);
    /// assert_eq!(pool.scale(-10), 0);
    /// assert_eq!(pool.resize(4), 4);
    /// ```
    pub fn scale(&self, delta: isize) -> usize {
        self.core.resize(
            |limit| limit.saturating_add_signed(delta),
            LimitCause::Scale,
        )
    }

    /// Sets the slot count (clamped as for [`scale`](Pool::scale)) and returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Kind, Pool, MAX_SLOTS};
    ///
    /// let fixed = Pool::fixed(2);
    /// assert_eq!(fixed.resize(8), 8);
    /// assert_eq!(fixed.resize(usize::MAX), MAX_SLOTS);
    ///
    /// let autoscaled = Pool::builder().kind(Kind::Autoscale).min(2).max(6).build()?;
    /// assert_eq!(autoscaled.resize(10), 6, "clamped to the bounds");
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn resize(&self, size: usize) -> usize {
        self.resize_for(size, LimitCause::Resize)
    }

    /// [`resize`](Pool::resize), reported as done for `cause`.
    pub(crate) fn resize_for(&self, size: usize, cause: LimitCause) -> usize {
        self.core.resize(|_| size, cause)
    }

    /// The bounds [`scale`](Pool::scale) and [`resize`](Pool::resize) clamp to.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Kind, Pool, MAX_SLOTS};
    ///
    /// assert_eq!(Pool::fixed(2).bounds(), (0, MAX_SLOTS));
    /// let pool = Pool::builder().kind(Kind::Autoscale).min(2).max(6).build()?;
    /// assert_eq!(pool.bounds(), (2, 6));
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn bounds(&self) -> (usize, usize) {
        self.core.bounds()
    }

    /// Changes the bounds of an autoscaled pool (the size is clamped into them);
    /// returns the new size.
    ///
    /// # Errors
    ///
    /// The bounds are checked as [`PoolBuilder::build`] checks them, and a
    /// refused change changes nothing: [`BuildError::BoundsOnFixedPool`](crate::BuildError::BoundsOnFixedPool)
    /// (a fixed pool has no bounds: it scales within `[0, MAX_SLOTS]`),
    /// [`ZeroMax`](crate::BuildError::ZeroMax), [`MinAboveMax`](crate::BuildError::MinAboveMax),
    /// [`TooLarge`](crate::BuildError::TooLarge).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{BuildError, Kind, Pool};
    ///
    /// let pool = Pool::builder().kind(Kind::Autoscale).min(2).max(6).build()?;
    /// assert_eq!(pool.set_bounds(4, 10)?, 4, "the size is clamped into the new bounds");
    /// assert_eq!(pool.bounds(), (4, 10));
    ///
    /// assert!(matches!(pool.set_bounds(5, 1), Err(BuildError::MinAboveMax { .. })));
    /// assert_eq!(pool.bounds(), (4, 10), "a refused change changes nothing");
    /// assert!(matches!(Pool::fixed(2).set_bounds(1, 4), Err(BuildError::BoundsOnFixedPool)));
    /// # Ok::<(), BuildError>(())
    /// ```
    pub fn set_bounds(&self, min: usize, max: usize) -> Result<usize, crate::BuildError> {
        self.set_bounds_for(min, max, LimitCause::Bounds)
    }

    /// [`set_bounds`](Pool::set_bounds), reported as done for `cause`.
    pub(crate) fn set_bounds_for(
        &self,
        min: usize,
        max: usize,
        cause: LimitCause,
    ) -> Result<usize, crate::BuildError> {
        use crate::BuildError;
        if self.kind() == Kind::Fixed {
            return Err(BuildError::BoundsOnFixedPool);
        }
        if max == 0 {
            return Err(BuildError::ZeroMax);
        }
        if min > max {
            return Err(BuildError::MinAboveMax { min, max });
        }
        if max > crate::MAX_SLOTS {
            return Err(BuildError::TooLarge { value: max });
        }
        Ok(self.core.set_bounds((min, max), cause))
    }

    /// The bound on waiting calls, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// assert_eq!(Pool::fixed(2).max_waiting(), None, "unbounded by default");
    /// let pool = Pool::builder().max_waiting(100).build()?;
    /// assert_eq!(pool.max_waiting(), Some(100));
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn max_waiting(&self) -> Option<usize> {
        self.core.max_waiting()
    }

    /// Changes the bound on waiting calls for calls that arrive from now on
    /// (calls already waiting keep their place).
    ///
    /// # Errors
    ///
    /// The bound is checked as [`PoolBuilder::build`] checks it: above
    /// [`MAX_SLOTS`](crate::MAX_SLOTS) it is
    /// [`OutOfRange`](crate::BuildError::OutOfRange) and changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{BuildError, Pool, MAX_SLOTS};
    ///
    /// let pool = Pool::fixed(2);
    /// pool.set_max_waiting(Some(100))?;
    /// assert_eq!(pool.max_waiting(), Some(100));
    /// assert!(matches!(
    ///     pool.set_max_waiting(Some(MAX_SLOTS + 1)),
    ///     Err(BuildError::OutOfRange { .. })
    /// ));
    /// assert_eq!(pool.max_waiting(), Some(100), "a refused bound changes nothing");
    /// # Ok::<(), BuildError>(())
    /// ```
    pub fn set_max_waiting(&self, bound: Option<usize>) -> Result<(), BuildError> {
        if let Some(bound) = bound {
            crate::group::settings::check_max_waiting(bound)?;
        }
        self.core.set_max_waiting(bound);
        Ok(())
    }

    /// The admission timeout, if any.
    ///
    /// Kept in nanoseconds: a timeout of `u64::MAX - 1` nanoseconds (some
    /// 584 years) or longer means "never" and reads back as
    /// [`Duration::MAX`] (a shorter one reads back as set, to the
    /// nanosecond).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::fixed(2);
    /// assert_eq!(pool.admission_timeout(), None, "none by default");
    /// pool.set_admission_timeout(Some(Duration::from_millis(250)));
    /// assert_eq!(pool.admission_timeout(), Some(Duration::from_millis(250)));
    /// pool.set_admission_timeout(Some(Duration::from_nanos(u64::MAX)));
    /// assert_eq!(pool.admission_timeout(), Some(Duration::MAX), "that long means never");
    /// ```
    pub fn admission_timeout(&self) -> Option<Duration> {
        self.core.admission_timeout()
    }

    /// Changes the admission timeout for calls that start waiting from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    /// use std::time::Duration;
    ///
    /// let pool = Pool::fixed(1);
    /// let held = pool.try_acquire()?;
    /// pool.set_admission_timeout(Some(Duration::from_millis(10)));
    /// assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
    /// drop(held);
    /// # Ok::<(), Rejected>(())
    /// ```
    pub fn set_admission_timeout(&self, timeout: Option<Duration>) {
        self.core.set_admission_timeout(timeout);
    }

    /// How long a sync caller may wait outside the queue before it takes
    /// its place in the order, if sync barging is on (see
    /// [`GroupSettings::sync_barging`]). Kept as
    /// [`admission_timeout`](Pool::admission_timeout) is: `u64::MAX - 1`
    /// nanoseconds or longer reads back as [`Duration::MAX`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::fixed(2);
    /// assert_eq!(pool.sync_barging(), None, "off by default");
    /// pool.set_sync_barging(Some(Duration::from_micros(50)));
    /// assert_eq!(pool.sync_barging(), Some(Duration::from_micros(50)));
    /// pool.set_sync_barging(Some(Duration::from_nanos(u64::MAX)));
    /// assert_eq!(pool.sync_barging(), Some(Duration::MAX));
    /// ```
    pub fn sync_barging(&self) -> Option<Duration> {
        self.core.sync_barging()
    }

    /// Turns sync barging on with a bound (off with `None` or a zero bound),
    /// for sync calls that arrive from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::fixed(2);
    /// pool.set_sync_barging(Some(Duration::from_micros(50)));
    /// assert!(pool.sync_barging().is_some());
    /// pool.set_sync_barging(Some(Duration::ZERO));
    /// assert_eq!(pool.sync_barging(), None, "a zero bound turns it off");
    /// ```
    pub fn set_sync_barging(&self, bound: Option<Duration>) {
        self.core.set_sync_barging(bound);
    }

    /// Restarts an autoscaled pool's queue-depth rule with new timing (fixed
    /// pools ignore it).
    ///
    /// # Errors
    ///
    /// The timing is checked as [`PoolBuilder::build`] checks it
    /// ([`AutoscaleTiming::validate`](crate::AutoscaleTiming::validate)): a
    /// zero interval or window, or a window above
    /// [`AutoscaleTiming::MAX_WINDOW`](crate::AutoscaleTiming::MAX_WINDOW), is
    /// an error and changes nothing. (An interval too long to pass is
    /// accepted and means "never".)
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{AutoscaleTiming, Kind, Pool};
    /// use std::time::Duration;
    ///
    /// let pool = Pool::builder().kind(Kind::Autoscale).min(1).max(8).build()?;
    /// let mut timing = AutoscaleTiming::DEFAULT;
    /// timing.interval = Duration::from_secs(1);
    /// pool.set_autoscale_timing(timing)?;
    ///
    /// timing.window = 0;
    /// assert!(pool.set_autoscale_timing(timing).is_err(), "a zero window is refused");
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn set_autoscale_timing(
        &self,
        timing: crate::AutoscaleTiming,
    ) -> Result<(), crate::BuildError> {
        timing.validate()?;
        self.core.set_autoscale_timing(timing);
        Ok(())
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    pub(crate) fn core_arc(&self) -> Arc<Core> {
        self.core.clone()
    }

    // ---- pausing and closing -----------------------------------------------

    /// Stops admitting new calls: they are rejected with [`Rejected::Paused`]
    /// (calls that cannot be rejected wait for [`resume`](Pool::resume)). Calls
    /// already waiting or running are not affected and keep being admitted.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(1);
    /// let held = pool.acquire().await?;
    /// let mut waiting = Box::pin(pool.acquire());
    /// assert!(futures::poll!(&mut waiting).is_pending());
    ///
    /// pool.pause();
    /// assert_eq!(pool.submit(async {}).await, Err(Rejected::Paused));
    /// drop(held);
    /// assert!(waiting.await.is_ok(), "a call already waiting is still admitted");
    /// # Ok::<(), Rejected>(())
    /// # }).unwrap();
    /// ```
    pub fn pause(&self) {
        self.core.set_paused(true);
    }

    /// Admits new calls again.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// let pool = Pool::fixed(1);
    /// pool.pause();
    /// assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
    /// pool.resume();
    /// assert_eq!(pool.run(|| ()), Ok(()));
    /// ```
    pub fn resume(&self) {
        self.core.set_paused(false);
    }

    /// Whether the pool is paused.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pool_runtime::Pool::fixed(1);
    /// assert!(!pool.is_paused());
    /// pool.pause();
    /// assert!(pool.is_paused() && pool.stats().paused);
    /// ```
    pub fn is_paused(&self) -> bool {
        self.core.is_paused()
    }

    /// Stops intake for good: new calls are rejected with [`Rejected::Closed`];
    /// waiting and running calls finish. See [`drained`](Pool::drained) to wait
    /// for them, [`shutdown`](Pool::shutdown) for both with a timeout.
    ///
    /// The never-rejecting calls of a group ([`Group::submit_wait`](crate::Group::submit_wait)
    /// and the `#[pooled]` functions whose return type cannot carry an error)
    /// have no way to report a rejection: a closed pool still admits them, in
    /// order and within its limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(1);
    /// let held = pool.acquire().await?;
    /// let mut waiting = Box::pin(pool.submit(async { "finished" }));
    /// assert!(futures::poll!(&mut waiting).is_pending());
    ///
    /// pool.close();
    /// assert_eq!(pool.submit(async { "finished" }).await, Err(Rejected::Closed));
    /// drop(held);
    /// assert_eq!(waiting.await, Ok("finished"), "a waiting call still runs");
    /// # Ok::<(), Rejected>(())
    /// # }).unwrap();
    /// ```
    pub fn close(&self) {
        self.core.close(false);
    }

    /// Closes the pool and rejects every waiting call at once with
    /// [`Rejected::Closed`] (never-rejecting ones excepted, see
    /// [`close`](Pool::close)); running calls finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(1);
    /// let running = pool.acquire().await?;
    /// let mut waiting = Box::pin(pool.submit(async { "never runs" }));
    /// assert!(futures::poll!(&mut waiting).is_pending());
    ///
    /// pool.abort();
    /// assert_eq!(waiting.await, Err(Rejected::Closed), "turned away at once");
    /// assert_eq!(pool.stats().running, 1, "the running call is left to finish");
    /// drop(running);
    /// # Ok::<(), Rejected>(())
    /// # }).unwrap();
    /// ```
    pub fn abort(&self) {
        self.core.close(true);
    }

    /// Whether the pool was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pool_runtime::Pool::fixed(1);
    /// assert!(!pool.is_closed());
    /// pool.close();
    /// assert!(pool.is_closed() && pool.stats().closed);
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Resolves once the pool is closed and nothing is waiting or running.
    /// (On an open pool it waits for `close` first.)
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only observes.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// let permit = pool.acquire_owned(0).await?;
    /// let mut drained = Box::pin(pool.drained());
    /// assert!(futures::poll!(&mut drained).is_pending(), "the pool is open");
    ///
    /// pool.close();
    /// assert!(futures::poll!(&mut drained).is_pending(), "a call holds a slot");
    /// drop(permit);
    /// drained.await;
    /// assert_eq!(pool.stats().in_flight(), 0);
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// # }).unwrap();
    /// ```
    pub async fn drained(&self) {
        /// Forgets its waker when dropped, so an abandoned wait keeps nothing.
        struct Registration<'a>(&'a Core, Option<u64>);
        impl Drop for Registration<'_> {
            fn drop(&mut self) {
                if let Some(id) = self.1 {
                    self.0.forget_drained(id);
                }
            }
        }
        let mut registration = Registration(&self.core, None);
        poll_fn(|cx| {
            if self.core.poll_drained(&mut registration.1, cx.waker()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Closes the pool and waits for waiting and running calls to finish.
    ///
    /// With a `timeout`, it returns by the deadline whatever the calls do: if
    /// the pool has not drained by then, the calls still waiting are turned
    /// away (like [`abort`](Pool::abort): a group's never-rejecting calls
    /// excepted, which wait on), the ones still running are left to finish
    /// (a running call is never interrupted), and the error says how many of
    /// each there were. Await [`drained`](Pool::drained) afterwards to wait
    /// for the running ones.
    ///
    /// Closing does not resume a paused pool: a never-rejecting call that
    /// arrived while it was paused waits for [`resume`](Pool::resume), so
    /// resume a paused pool before waiting for it to drain (without a
    /// `timeout`, this waits until then).
    ///
    /// # Errors
    ///
    /// [`ShutdownTimedOut`](crate::ShutdownTimedOut): the deadline passed
    /// before the pool drained.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the pool closed (and, past the deadline,
    /// its queue aborted); nothing else happens.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let idle = Pool::fixed(2);
    /// assert!(idle.shutdown(None).await.is_ok());
    /// assert_eq!(idle.submit(async {}).await, Err(Rejected::Closed));
    ///
    /// let busy = Pool::fixed(1);
    /// let running = busy.acquire().await?;
    /// let timed_out = busy.shutdown(Some(Duration::from_millis(10))).await.unwrap_err();
    /// assert_eq!(timed_out.running, 1, "a running call is never interrupted");
    /// drop(running);
    /// busy.drained().await;
    /// # Ok::<(), Rejected>(())
    /// # }).unwrap();
    /// ```
    pub async fn shutdown(&self, timeout: Option<Duration>) -> Result<(), crate::ShutdownTimedOut> {
        self.close();
        let Some(timeout) = timeout else {
            self.drained().await;
            return Ok(());
        };
        let mut deadline = Sleep::new(timeout, self.core.uses_tokio_time());
        let mut drained = pin!(self.drained());
        let in_time = poll_fn(|cx| {
            if drained.as_mut().poll(cx).is_ready() {
                Poll::Ready(true)
            } else if deadline.as_mut().poll(cx).is_ready() {
                Poll::Ready(false)
            } else {
                Poll::Pending
            }
        })
        .await;
        if in_time {
            return Ok(());
        }
        let turned_away = self.core.close(true);
        let stats = self.stats();
        // Drained after all (the last calls ended as the deadline passed):
        // in time. Not if waiting calls had to be turned away to get there.
        if turned_away == 0 && stats.in_flight() == 0 {
            return Ok(());
        }
        Err(crate::ShutdownTimedOut {
            running: stats.running,
            nested: stats.nested,
            turned_away,
            // Never-rejecting calls: `abort` leaves them waiting, queued or
            // in the room (not the room's other callers, counted in
            // `turned_away`, which may still be counted in `stats.waiting`
            // on their way to be turned away).
            waiting: self.core.left_waiting(),
        })
    }

    /// A pool scoped to `body`: runs `body` with a handle to the pool, then
    /// closes the pool and waits for every call to finish.
    ///
    /// The pool is closed however the scope ends: if `body` panics, or the
    /// returned future is dropped before it completes, the pool is closed
    /// then (new calls through any clone of the handle are
    /// [`Rejected::Closed`]), but not waited for — a panic or a drop cannot
    /// wait; await [`drained`](Pool::drained) on a clone for that.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// # futures::executor::block_on(async {
    /// let total = Pool::fixed(3)
    ///     .scoped(|pool| async move {
    ///         let (a, b) = futures::join!(pool.submit(async { 1 }), pool.submit(async { 2 }));
    ///         a.unwrap() + b.unwrap()
    ///     })
    ///     .await;
    /// assert_eq!(total, 3);
    /// # });
    /// ```
    pub async fn scoped<Fut: Future>(self, body: impl FnOnce(Pool) -> Fut) -> Fut::Output {
        /// Closes the pool when the scope ends, early (a panic in the body,
        /// the future dropped) included.
        struct CloseAtEnd<'a>(&'a Pool);
        impl Drop for CloseAtEnd<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let _close = CloseAtEnd(&self);
        let out = body(self.clone()).await;
        let drained = self.shutdown(None).await;
        debug_assert!(drained.is_ok(), "no deadline, so it always drains");
        out
    }

    // ---- observing ---------------------------------------------------------

    /// A snapshot of the pool's state and counters (a few relaxed loads).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// pool.submit(async {}).await?;
    /// pool.pause();
    /// assert!(pool.submit(async {}).await.is_err());
    ///
    /// let stats = pool.stats();
    /// assert_eq!((stats.size, stats.completed, stats.running), (2, 1, 0));
    /// assert_eq!(stats.rejected_for(Rejected::Paused), 1);
    /// assert_eq!(stats.submitted(), stats.completed + stats.rejected_total());
    /// # Ok::<(), Rejected>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }
}

impl Default for Pool {
    /// The default pool: fixed, FIFO, 3 slots.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Kind, Order, Pool};
    ///
    /// let pool = Pool::default();
    /// assert_eq!((pool.kind(), pool.order(), pool.size()), (Kind::Fixed, Order::Fifo, 3));
    /// ```
    fn default() -> Self {
        Pool::fixed(DEFAULT_SIZE)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .field("order", &self.order())
            .field("stats", &self.stats())
            .finish()
    }
}
