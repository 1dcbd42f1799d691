//! Blocking closures on a rayon thread pool (feature `rayon`).

use crate::call::blocking::{BlockingExecutor, BlockingJob};
use std::sync::Arc;

/// A [`BlockingExecutor`] that runs [`Pool::submit_blocking`](crate::Pool::submit_blocking)
/// closures on a rayon thread pool: rayon's global pool
/// ([`RayonExecutor::global`], the default), or one of the application's
/// ([`RayonExecutor::new`]).
///
/// For applications whose CPU-bound work already runs on rayon: the pool
/// decides how many closures run at once and in which order, rayon's
/// threads run them, and no second set of threads is started. The pool's
/// guarantees hold as with any executor: the slot travels with the job and
/// is released on the rayon thread when the closure returns or panics; a
/// panic is re-raised in the caller; a nested call made from inside the
/// closure runs under its slot.
///
/// Rayon's threads are few (one per core by default) and meant for work that
/// does not block. A job holds its slot from admission on, including while it
/// waits for a free rayon thread; and a closure that parks its rayon thread
/// waiting for something only a job queued behind it on the same rayon pool
/// can do deadlocks that pool, as with any bounded executor. For closures
/// that block on I/O, keep the default executor (tokio's blocking pool).
///
/// Only the closure's own thread makes nested calls. The pieces of rayon
/// work it starts (`par_iter`, `join`, `scope`) that rayon runs on its other
/// threads are calls of their own there, as a task spawned onto another
/// thread is (see the reentrancy rule on [`Pool`](crate::Pool)): a piece
/// that calls the same pool waits for a free slot while the closure waits
/// for the piece, so with every slot held by such closures (a pool of one
/// and a `par_iter` whose items call it) they wait on each other for good.
/// Call the pool before or after the parallel section, or give the pieces
/// another pool.
///
/// # Examples
///
/// ```
/// use pool_runtime::{Pool, RayonExecutor};
/// use std::sync::Arc;
///
/// let pool = Pool::builder()
///     .size(2)
///     .blocking_executor(Arc::new(RayonExecutor::default())) // rayon's global pool
///     .build()?;
/// let on_rayon = futures::executor::block_on(
///     pool.submit_blocking(|| rayon::current_thread_index().is_some()),
/// )?;
/// assert!(on_rayon);
///
/// // Or a thread pool of the application's own.
/// let threads = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(4).build()?);
/// let pool = Pool::builder()
///     .size(4)
///     .blocking_executor(Arc::new(RayonExecutor::new(threads.clone())))
///     .build()?;
/// let sum = futures::executor::block_on(pool.submit_blocking(move || {
///     use rayon::prelude::*;
///     (1..=100u64).into_par_iter().sum::<u64>() // nested rayon work is fine
/// }))?;
/// assert_eq!(sum, 5050);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RayonExecutor {
    /// `None`: rayon's global pool.
    threads: Option<Arc<::rayon::ThreadPool>>,
}

impl RayonExecutor {
    /// Runs jobs on rayon's global thread pool (built on first use, or as
    /// configured by `rayon::ThreadPoolBuilder::build_global`).
    pub const fn global() -> Self {
        RayonExecutor { threads: None }
    }

    /// Runs jobs on `threads`.
    pub fn new(threads: Arc<::rayon::ThreadPool>) -> Self {
        RayonExecutor {
            threads: Some(threads),
        }
    }

    /// The thread pool jobs run on; `None` for rayon's global pool.
    pub fn thread_pool(&self) -> Option<&Arc<::rayon::ThreadPool>> {
        self.threads.as_ref()
    }
}

impl BlockingExecutor for RayonExecutor {
    fn execute(&self, job: BlockingJob) {
        // A job catches its closure's panic itself (to re-raise it in the
        // caller). What could still unwind is the pool's bookkeeping after
        // it, such as a panicking waker of the next waiter; rayon's answer
        // to a panicking spawned job is to abort the process (unless its
        // pool has a panic handler), so it is caught here. The panic hook
        // has reported it already.
        let job = move || {
            crate::unwind::caught(job);
        };
        match &self.threads {
            Some(threads) => threads.spawn(job),
            None => ::rayon::spawn(job),
        }
    }
}
