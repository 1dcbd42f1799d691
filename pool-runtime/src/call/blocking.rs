//! Running blocking closures on an executor while they hold a slot.
//!
//! The slot moves with the job: it is released on the executor's thread when
//! the closure returns or panics, so the number of closures actually running
//! never exceeds the limit, even if the caller stops waiting for the result.

use crate::admission::core::Mode;
use crate::admission::core::{Core, Outcome};
use crate::admission::lend::Lender;
use crate::admission::nested;
use crate::call::acquire::Acquire;
use crate::call::held::Detached;
use crate::call::Form;
use crate::pool::rejected::Rejected;
use crate::scale::adaptive::Verdict;
use std::any::Any;
use std::fmt;
use std::future::poll_fn;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A job for a [`BlockingExecutor`]: run it once, on a thread where blocking is fine.
pub type BlockingJob = Box<dyn FnOnce() + Send + 'static>;

/// Where blocking closures run: plug in your own thread pool.
///
/// The default is tokio's blocking pool (`spawn_blocking`) when a tokio runtime
/// is current (feature `tokio`), and a new thread otherwise.
///
/// If `execute` drops a job without running it (an executor shutting down),
/// the call is rejected with [`Rejected::Closed`] and its slot is released.
/// The call had been admitted, so [`Stats`](crate::Stats) counts it in
/// `cancelled` (see [`Stats::rejected_for`](crate::Stats::rejected_for)).
///
/// # Examples
///
/// ```
/// use pool_runtime::{BlockingExecutor, BlockingJob, Pool};
/// use std::sync::Arc;
///
/// /// Runs every job on a fresh, named thread.
/// struct NamedThreads;
///
/// impl BlockingExecutor for NamedThreads {
///     fn execute(&self, job: BlockingJob) {
///         std::thread::Builder::new().name("blocking".into()).spawn(job).unwrap();
///     }
/// }
///
/// let pool = Pool::builder().size(2).blocking_executor(Arc::new(NamedThreads)).build()?;
/// let name = futures::executor::block_on(
///     pool.submit_blocking(|| std::thread::current().name().map(str::to_owned)),
/// )?;
/// assert_eq!(name.as_deref(), Some("blocking"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait BlockingExecutor: Send + Sync + 'static {
    /// Runs `job` on some thread.
    fn execute(&self, job: BlockingJob);
}

/// The default executor (see [`BlockingExecutor`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultExecutor;

impl BlockingExecutor for DefaultExecutor {
    fn execute(&self, job: BlockingJob) {
        #[cfg(feature = "tokio")]
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            drop(handle.spawn_blocking(job));
            return;
        }
        // Without a runtime: a thread of its own. A failure to spawn drops the
        // job, which rejects the call with `Closed`.
        let _ = std::thread::Builder::new()
            .name("pooled-blocking".into())
            .spawn(job);
    }
}

/// A slot owned by a blocking job; released on the executor's thread.
pub(crate) struct OwnedSlot {
    core: Arc<Core>,
    held: Option<Detached>,
    /// The frames of the work that made the call, entered beneath the
    /// job's own around the closure.
    inherited: nested::Inherited,
    /// The job's slot as lent to calls nested in the closure.
    lender: Lender,
    outcome: Outcome,
}

impl OwnedSlot {
    /// Waits for a slot of `core` (the same admission as every call form),
    /// then takes it out of the waiting call, to be released wherever the
    /// slot goes (a blocking job's executor thread).
    ///
    /// # Errors
    ///
    /// The call was turned away.
    pub(crate) async fn acquire(
        core: Arc<Core>,
        weight: i64,
        mode: Mode,
    ) -> Result<OwnedSlot, Rejected> {
        let mut acquire = pin!(Acquire::new(&*core, weight, mode, Form::Blocking));
        poll_fn(|cx| acquire.as_mut().poll_acquire(cx)).await?;
        let held = acquire.as_mut().detach();
        Ok(OwnedSlot::new(core.clone(), held))
    }

    /// The slot `held` of a call of `core`, admitted on the thread that
    /// made the call, inside the work that made it: the frames of that
    /// work go along (see [`nested::inherit`]).
    pub(crate) fn new(core: Arc<Core>, held: Detached) -> Self {
        if let Some(lend) = &held.under {
            lend.mark_off_thread();
        }
        OwnedSlot {
            core,
            held: Some(held),
            inherited: nested::inherit(),
            lender: Lender::new(),
            // Until the job runs to the end: dropped unrun means cancelled.
            outcome: Outcome::Cancelled,
        }
    }

    /// A ceiling slot whose group turned its call away: the ceiling's call
    /// ended with that answer (completed, as a group submit's does), rather
    /// than cancelled, which a slot dropped unrun is otherwise.
    pub(crate) fn answered(&mut self) {
        self.outcome = Outcome::Completed;
    }

    /// Runs `f` holding the slot (with the reentrancy frame, so a nested call
    /// from inside the closure can borrow this slot; in the call's span, with
    /// feature `tracing`).
    ///
    /// For the job on the executor's thread: with the frames it inherited
    /// as the thread's only others (see [`Inherited::enter`](nested::Inherited::enter)).
    pub(crate) fn run<T>(mut self, f: impl FnOnce() -> T) -> std::thread::Result<T> {
        let inherited = std::mem::take(&mut self.inherited);
        inherited.enter(|| self.run_inline(f))
    }

    /// [`run`](OwnedSlot::run) inside another job on its thread (a group
    /// call's ceiling slot, inside the group slot's job, which entered the
    /// inherited frames): on top of the thread's frames.
    pub(crate) fn run_inline<T>(mut self, f: impl FnOnce() -> T) -> std::thread::Result<T> {
        self.outcome = Outcome::Panicked;
        let under = self.held.as_ref().and_then(|held| held.under.clone());
        #[cfg(feature = "tracing")]
        let _entered = self
            .held
            .as_ref()
            .and_then(|held| held.obs.span())
            .map(tracing::Span::enter);
        let result = nested::enter(&self.core, &self.lender, &under, || {
            panic::catch_unwind(AssertUnwindSafe(f))
        });
        if result.is_ok() {
            self.outcome = Outcome::Completed;
        }
        result
    }
}

impl Drop for OwnedSlot {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            let own = self.lender.take();
            let (core, outcome) = (&self.core, self.outcome);
            // The release hands the slot on and wakes the call it goes to;
            // that waker's panic, re-raised once the release is done, is
            // not this job's: caught here (the panic hook has shown it), so
            // that the job's own result or panic reaches its caller.
            crate::unwind::caught(|| held.end(core, outcome, Verdict::Success, own));
        }
    }
}

/// The receiving half of a job's result.
pub(crate) struct JobResult<T> {
    shared: Arc<Mutex<Slot<T>>>,
}

struct Slot<T> {
    value: Option<std::thread::Result<T>>,
    sender_gone: bool,
    waker: Option<Waker>,
}

/// The sending half: dropping it without a value tells the receiver the job
/// never ran.
pub(crate) struct JobSender<T> {
    shared: Arc<Mutex<Slot<T>>>,
}

pub(crate) fn job_channel<T>() -> (JobSender<T>, JobResult<T>) {
    let shared = Arc::new(Mutex::new(Slot {
        value: None,
        sender_gone: false,
        waker: None,
    }));
    (
        JobSender {
            shared: shared.clone(),
        },
        JobResult { shared },
    )
}

impl<T> JobSender<T> {
    pub(crate) fn send(self, value: std::thread::Result<T>) {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).value = Some(value);
    }
}

impl<T> Drop for JobSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            slot.sender_gone = true;
            slot.waker.take()
        };
        // The caller's waker, woken on the executor's thread: its panic is
        // caught here (the result waits for the caller's next poll), since
        // an executor need not catch the panics of the jobs it runs.
        if let Some(waker) = waker {
            crate::unwind::caught(move || waker.wake());
        }
    }
}

impl<T> Future for JobResult<T> {
    type Output = Result<T, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match slot.value.take() {
            Some(Ok(value)) => Poll::Ready(Ok(value)),
            Some(Err(payload)) => {
                drop(slot);
                resume(payload)
            }
            None if slot.sender_gone => Poll::Ready(Err(Rejected::Closed)),
            None => {
                let replaced = match &slot.waker {
                    Some(known) if known.will_wake(cx.waker()) => None,
                    _ => slot.waker.replace(cx.waker().clone()),
                };
                drop(slot);
                // The replaced waker is the caller's executor's: dropped
                // outside the lock, its panic caught (the panic hook has
                // shown it), so that the call waits on for its result.
                if replaced.is_some() {
                    crate::unwind::caught(move || drop(replaced));
                }
                Poll::Pending
            }
        }
    }
}

/// Re-raises a job's panic in the caller.
pub(crate) fn resume(payload: Box<dyn Any + Send>) -> ! {
    panic::resume_unwind(payload)
}

impl<T> fmt::Debug for JobResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobResult").finish_non_exhaustive()
    }
}
