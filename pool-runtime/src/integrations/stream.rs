//! A stream of futures run through a pool (feature `stream`).
//!
//! [`PooledStreamExt`] is [`buffer_unordered`] and [`buffered`] with the
//! pool's admission in place of a fixed buffer size: every future the stream
//! yields runs as a call of the pool ([`Pool::submit_weighted`], or
//! [`Group::submit`] for a group), so the stream's concurrency is the pool's,
//! shared with every other caller of the pool, scaled, paused and ordered as
//! the pool is. Each call's outcome is yielded as `Result<output, Rejected>`:
//! in completion order by [`pooled_unordered`](PooledStreamExt::pooled_unordered),
//! in input order by [`pooled_ordered`](PooledStreamExt::pooled_ordered).
//!
//! ```
//! use futures::StreamExt;
//! use pool_runtime::{Pool, PooledStreamExt};
//!
//! # futures::executor::block_on(async {
//! let pool = Pool::fixed(4);
//! let lengths: Vec<_> = futures::stream::iter(["a", "bb", "ccc"])
//!     .map(|name| async move { name.len() }) // a stream of futures
//!     .pooled_ordered(&pool)                 // at most 4 running, with the pool's other calls
//!     .collect()
//!     .await;
//! assert_eq!(lengths, [Ok(1), Ok(2), Ok(3)]);
//! # });
//! ```
//!
//! # How much of the stream is pulled
//!
//! An adapter pulls a future from its stream only while it holds fewer than
//! `max(1, 2 × size)` of the stream's items, `size` being the pool's size
//! when it pulls (and at most the [`limit`](PooledUnordered::limit) set on
//! it): up to `size` of them running and as many waiting their turn in the
//! pool's queue. So a stream of a million futures on a pool of 4 has at most
//! 8 of them alive at once, whatever the stream's length. Why twice the size:
//! `size` waiting calls keep every slot busy as calls finish (a freed slot goes
//! to a waiter at once, without waiting for the adapter to be polled), and an
//! autoscaled pool sees the stream's backlog (the queue-depth rule grows the
//! pool toward `running + waiting`, at most doubling it, so a stream that
//! never queued would never make it grow). The adapters of
//! `pooled_ordered` count the finished outputs held back for an earlier item
//! too, as `buffered` does, so a slow first item holds at most that many
//! outputs. The bound follows the pool: after a scale-down the adapter pulls
//! nothing until it is below the new bound; after a scale-up it pulls more at
//! its next poll, which comes when one of its calls is admitted or finishes.
//!
//! # Cancel safety
//!
//! Dropping an adapter drops every call it started, as dropping a
//! [`Submit`](crate::Submit) does: a waiting call leaves the pool's queue at
//! once, a running one drops its future and frees its slot (each counted as
//! cancelled in [`Stats`](crate::Stats)). Items the stream has not yielded
//! yet are never pulled.
//!
//! # Panics
//!
//! A panic in a call's future frees its slot and propagates out of
//! `poll_next`, as it would out of a `Submit`. The panicked item is gone; an
//! adapter polled again after it (a consumer that catches panics) goes on
//! with the other items and ends, as `FuturesUnordered` does — the ordered
//! adapter skips the panicked item's place.
//!
//! [`buffer_unordered`]: https://docs.rs/futures/0.3/futures/stream/trait.StreamExt.html#method.buffer_unordered
//! [`buffered`]: https://docs.rs/futures/0.3/futures/stream/trait.StreamExt.html#method.buffered

use crate::call::submit::Submit;
use crate::group::call::GroupSubmit;
use crate::group::Group;
use crate::pool::rejected::Rejected;
use crate::pool::Pool;
use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// The pool a stream's calls go through: a borrowed [`Pool`], or a
/// `&'static` [`Group`] (a `#[pooled]` group's `POOL` handle), whose calls
/// also take the application-wide [ceiling](crate::ceiling) as
/// [`Group::submit`] does.
///
/// The adapters of [`PooledStreamExt`] take `impl Into<PoolRef>`, so they are
/// given `&pool` or a group alike.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use pool_runtime::stream::PoolRef;
/// use pool_runtime::{Group, GroupSpec, Pool, PooledStreamExt, Rejected};
///
/// static FETCH: Group = Group::new(GroupSpec::new("fetch").size(2));
///
/// async fn lengths(pool: PoolRef<'_>) -> Vec<Result<usize, Rejected>> {
///     futures::stream::iter(["a", "bb"])
///         .map(|s| async move { s.len() })
///         .pooled_ordered(pool)
///         .collect()
///         .await
/// }
///
/// # futures::executor::block_on(async {
/// assert_eq!(lengths((&FETCH).into()).await, [Ok(1), Ok(2)]);
/// let pool = Pool::fixed(2);
/// assert_eq!(lengths((&pool).into()).await, [Ok(1), Ok(2)]);
/// assert_eq!((FETCH.stats().completed, pool.stats().completed), (2, 2));
/// # });
/// ```
#[derive(Clone, Copy)]
pub struct PoolRef<'a>(Target<'a>);

#[derive(Clone, Copy)]
enum Target<'a> {
    Pool(&'a Pool),
    Group(&'static Group),
}

impl<'a> From<&'a Pool> for PoolRef<'a> {
    fn from(pool: &'a Pool) -> Self {
        PoolRef(Target::Pool(pool))
    }
}

impl<'a> From<&'static Group> for PoolRef<'a> {
    fn from(group: &'static Group) -> Self {
        PoolRef(Target::Group(group))
    }
}

impl fmt::Debug for PoolRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Target::Pool(pool) => f.debug_tuple("PoolRef").field(pool).finish(),
            Target::Group(group) => f.debug_tuple("PoolRef").field(group).finish(),
        }
    }
}

impl<'a> PoolRef<'a> {
    /// How many of the stream's items the adapter may hold: twice the pool's
    /// size (at least one, so a pool scaled to zero still has a waiter to
    /// wake the adapter when it grows again), at most `limit`.
    fn bound(self, limit: usize) -> usize {
        let size = match self.0 {
            Target::Pool(pool) => pool.size(),
            Target::Group(group) => group.size(),
        };
        size.saturating_mul(2).clamp(1, limit.max(1))
    }

    fn submit<F: Future>(self, weight: i64, work: F) -> Call<'a, F> {
        match self.0 {
            Target::Pool(pool) => Call::Pool {
                call: pool.submit_weighted(weight, work),
            },
            Target::Group(group) => Call::Group {
                call: group.submit(weight, work),
            },
        }
    }
}

pin_project! {
    /// One item's call, through a pool or a group.
    #[project = CallProj]
    enum Call<'a, F: Future> {
        Pool { #[pin] call: Submit<'a, F> },
        Group { #[pin] call: GroupSubmit<'static, F> },
    }
}

impl<F: Future> Future for Call<'_, F> {
    type Output = Result<F::Output, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallProj::Pool { call } => call.poll(cx),
            CallProj::Group { call } => call.poll(cx),
        }
    }
}

// ---- the set of calls in flight -------------------------------------------

/// The calls an adapter has started, each polled only when its own waker says
/// it can make progress (as `FuturesUnordered` does).
///
/// Each call lives in a pinned box that is reused by the next call, with a
/// waker of its own that is made once per box: a stream that keeps `n` calls
/// in flight allocates `n` boxes and wakers, then nothing per item.
struct Calls<C> {
    entries: Vec<Entry<C>>,
    /// Indices of the entries holding no call.
    free: Vec<usize>,
    /// Entries holding a call.
    len: usize,
    /// Entries to poll: new calls, and the woken ones taken from `shared`.
    /// Refilled from `shared` only once empty, so it holds each index at most
    /// twice (once new, once woken).
    to_poll: VecDeque<usize>,
    shared: Arc<Shared>,
    /// The places of calls whose poll panicked since the adapter last
    /// looked: their outcomes will never come.
    lost: Vec<u64>,
}

struct Entry<C> {
    call: Pin<Box<Option<C>>>,
    waker: Waker,
    /// The item's place in the stream (for `pooled_ordered`).
    seq: u64,
}

/// What the entries' wakers share with the adapter.
#[derive(Default)]
struct Shared(Mutex<Woken>);

#[derive(Default)]
struct Woken {
    /// Entries woken since the adapter last looked, each once.
    indices: Vec<usize>,
    /// Per entry: whether its index is in `indices`.
    queued: Vec<bool>,
    /// The adapter's task, woken (and forgotten until its next poll) when an
    /// entry is woken.
    task: Option<Waker>,
}

impl Shared {
    /// A leaf lock: no waker runs and no other lock is taken under it (a
    /// waker is cloned before and woken after), so it cannot be poisoned.
    fn lock(&self) -> MutexGuard<'_, Woken> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The waker of one entry: queues the entry's index and wakes the adapter.
struct EntryWaker {
    shared: Arc<Shared>,
    index: usize,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = {
            let mut woken = self.shared.lock();
            if !std::mem::replace(&mut woken.queued[self.index], true) {
                woken.indices.push(self.index);
            }
            woken.task.take()
        };
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<C: Future> Calls<C> {
    fn new() -> Self {
        Calls {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            to_poll: VecDeque::new(),
            shared: Arc::default(),
            lost: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Adds a call; it is polled (and so enters the pool) at the next
    /// [`poll_any`](Calls::poll_any).
    fn push(&mut self, call: C, seq: u64) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = self.entries.len();
                self.shared.lock().queued.push(false);
                let waker = Waker::from(Arc::new(EntryWaker {
                    shared: self.shared.clone(),
                    index,
                }));
                self.entries.push(Entry {
                    call: Box::pin(None),
                    waker,
                    seq: 0,
                });
                index
            }
        };
        let entry = &mut self.entries[index];
        entry.seq = seq;
        entry.call.as_mut().set(Some(call));
        self.len += 1;
        self.to_poll.push_back(index);
    }

    /// Makes `task` the one woken by the entries.
    fn register(&self, task: &Waker) {
        if matches!(&self.shared.lock().task, Some(known) if known.will_wake(task)) {
            return;
        }
        // Cloned outside the lock (a clone runs the waker's code), and the
        // replaced one dropped outside it too, its panic caught (the panic
        // hook has shown it): the stream goes on polling its calls.
        let task = task.clone();
        let replaced = self.shared.lock().task.replace(task);
        if replaced.is_some() {
            crate::unwind::caught(move || drop(replaced));
        }
    }

    /// Moves the entries woken since the last look into `to_poll`.
    fn take_woken(&mut self) {
        let mut woken = self.shared.lock();
        let Woken {
            indices, queued, ..
        } = &mut *woken;
        for index in indices.drain(..) {
            queued[index] = false;
            self.to_poll.push_back(index);
        }
    }

    /// Polls the calls that were woken, and returns the first to finish with
    /// its item's place in the stream; `Ready(None)` if there are no calls.
    ///
    /// Polls at most as many calls as there are before it returns `Pending`
    /// (waking the task first if more are ready), so calls that wake
    /// themselves at once cannot keep it from returning.
    fn poll_any(&mut self, cx: &mut Context<'_>) -> Poll<Option<(u64, C::Output)>> {
        if self.len == 0 {
            // Any indices left are of entries that hold no call.
            self.to_poll.clear();
            return Poll::Ready(None);
        }
        self.register(cx.waker());
        let mut budget = self.len;
        loop {
            if self.to_poll.is_empty() {
                self.take_woken();
                if self.to_poll.is_empty() {
                    return Poll::Pending;
                }
            }
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let index = self.to_poll.pop_front().expect("checked non-empty");
            let entry = &mut self.entries[index];
            // A stale index (an entry woken, then finished) holds no call.
            let Some(call) = entry.call.as_mut().as_pin_mut() else {
                continue;
            };
            budget -= 1;
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                call.poll(&mut Context::from_waker(&entry.waker))
            }));
            let polled = match polled {
                Ok(polled) => polled,
                Err(panic) => {
                    // The call is gone (its slot freed as it unwound): out
                    // of the set, its place recorded as lost, then the panic
                    // goes on to the poller. Dropping what is left of it may
                    // panic again: caught (the hook shows it), this one is
                    // the panic that counts.
                    crate::unwind::caught(|| entry.call.as_mut().set(None));
                    self.lost.push(entry.seq);
                    self.free.push(index);
                    self.len -= 1;
                    std::panic::resume_unwind(panic);
                }
            };
            if let Poll::Ready(out) = polled {
                // A finished call has released its slot; drop what is left
                // of it and keep the box for the next one.
                entry.call.as_mut().set(None);
                self.free.push(index);
                self.len -= 1;
                return Poll::Ready(Some((entry.seq, out)));
            }
        }
    }
}

// ---- the extension trait ---------------------------------------------------

/// The weight of an unweighted adapter's calls: 0.
fn unweighted<T>(_: &T) -> i64 {
    0
}

/// The weight function of the unweighted adapters.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use pool_runtime::stream::{PooledOrdered, Unweighted};
/// use pool_runtime::{Pool, PooledStreamExt};
/// use std::future::Ready;
///
/// /// The stream of jobs, named to be stored in a field.
/// type Jobs = futures::stream::Iter<std::vec::IntoIter<Ready<u32>>>;
///
/// # futures::executor::block_on(async {
/// let pool = Pool::fixed(2);
/// let jobs: Jobs = futures::stream::iter(vec![std::future::ready(1), std::future::ready(2)]);
/// let ordered: PooledOrdered<'_, Jobs, Unweighted<Ready<u32>>> = jobs.pooled_ordered(&pool);
/// assert_eq!(ordered.collect::<Vec<_>>().await, [Ok(1), Ok(2)]);
/// # });
/// ```
pub type Unweighted<T> = fn(&T) -> i64;

/// Runs a stream of futures through a pool: see the [module docs](self).
///
/// Implemented for every [`Stream`] whose items are futures.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use pool_runtime::{Pool, PooledStreamExt, Rejected};
///
/// # futures::executor::block_on(async {
/// let pool = Pool::fixed(2);
/// let tens: Vec<_> = futures::stream::iter(1..=3)
///     .map(|n| async move { n * 10 })
///     .pooled_ordered(&pool)
///     .collect()
///     .await;
/// assert_eq!(tens, [Ok(10), Ok(20), Ok(30)]);
/// assert_eq!(pool.stats().completed, 3, "each future ran as a call of the pool");
///
/// pool.close();
/// let refused: Vec<_> = futures::stream::iter([async { 1 }]).pooled_unordered(&pool).collect().await;
/// assert_eq!(refused, [Err(Rejected::Closed)]);
/// # });
/// ```
pub trait PooledStreamExt: Stream {
    /// Runs each future the stream yields as a call of `pool` (a `&Pool`, or
    /// a `&'static Group`), like `buffer_unordered` with the pool's
    /// admission for a buffer size, and yields each call's outcome in the
    /// order the calls finish: the future's output, or why the pool turned
    /// the call away (paused, closed, full, timed out).
    ///
    /// Calls have weight 0 (see
    /// [`pooled_unordered_weighted`](PooledStreamExt::pooled_unordered_weighted)).
    /// At most `2 × size` of the stream's items are pulled and not yet
    /// yielded at any time (see the [module docs](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use pool_runtime::{Pool, PooledStreamExt, Rejected};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// let mut squares: Vec<u64> = futures::stream::iter(1..=10u64)
    ///     .map(|n| async move { n * n })
    ///     .pooled_unordered(&pool)
    ///     .map(|outcome| outcome.expect("the pool is open"))
    ///     .collect()
    ///     .await;
    /// squares.sort();
    /// assert_eq!(squares, [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]);
    ///
    /// pool.pause();
    /// let outcomes: Vec<_> = futures::stream::iter([async {}])
    ///     .pooled_unordered(&pool)
    ///     .collect()
    ///     .await;
    /// assert_eq!(outcomes, [Err(Rejected::Paused)]);
    /// # });
    /// ```
    fn pooled_unordered<'a>(
        self,
        pool: impl Into<PoolRef<'a>>,
    ) -> PooledUnordered<'a, Self, Unweighted<Self::Item>>
    where
        Self: Sized,
        Self::Item: Future,
    {
        PooledUnordered::new(self, pool.into(), unweighted)
    }

    /// [`pooled_unordered`](PooledStreamExt::pooled_unordered) with a weight
    /// for each call, computed from its future: on a priority pool smaller
    /// weights are admitted first (FIFO and LIFO pools ignore weights).
    ///
    /// The weight orders the stream's calls among every call waiting for the
    /// pool; since the adapter holds at most `2 × size` of the stream's items,
    /// it cannot reorder the whole stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use pool_runtime::{Order, Pool, PooledStreamExt};
    /// use std::future::Future;
    /// use std::pin::Pin;
    /// use std::task::{Context, Poll};
    ///
    /// /// A job that knows how urgent it is.
    /// struct Job {
    ///     urgency: i64,
    /// }
    ///
    /// impl Future for Job {
    ///     type Output = i64;
    ///     fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<i64> {
    ///         Poll::Ready(self.urgency)
    ///     }
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::builder().order(Order::Priority).size(1).build()?;
    /// let busy = pool.acquire().await?; // the only slot: the stream's calls wait
    /// let jobs = [3, 1, 2].map(|urgency| Job { urgency });
    /// let mut done = Box::pin(
    ///     futures::stream::iter(jobs).pooled_unordered_weighted(&pool, |job: &Job| job.urgency),
    /// );
    /// assert!(futures::poll!(done.next()).is_pending(), "two calls wait (2 x size)");
    /// drop(busy);
    /// // Of the two items pulled, the one weighing 1 is admitted first.
    /// assert_eq!(done.next().await, Some(Ok(1)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    fn pooled_unordered_weighted<'a, W>(
        self,
        pool: impl Into<PoolRef<'a>>,
        weight: W,
    ) -> PooledUnordered<'a, Self, W>
    where
        Self: Sized,
        Self::Item: Future,
        W: FnMut(&Self::Item) -> i64,
    {
        PooledUnordered::new(self, pool.into(), weight)
    }

    /// Like [`pooled_unordered`](PooledStreamExt::pooled_unordered), but
    /// yields the outcomes in the order of the stream's items, as `buffered`
    /// does: calls still run (and finish) concurrently, and an outcome that
    /// finishes before an earlier one is held back until it can be yielded.
    ///
    /// Held-back outcomes count toward the `2 × size` items the adapter may
    /// hold (see the [module docs](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use pool_runtime::{Pool, PooledStreamExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(3);
    /// let pages = futures::stream::iter(["/a", "/b", "/c", "/d"])
    ///     .map(|path| async move { format!("page {path}") })
    ///     .pooled_ordered(&pool);
    /// let pages: Vec<String> = pages.map(Result::unwrap).collect().await;
    /// assert_eq!(pages, ["page /a", "page /b", "page /c", "page /d"]);
    /// # });
    /// ```
    fn pooled_ordered<'a>(
        self,
        pool: impl Into<PoolRef<'a>>,
    ) -> PooledOrdered<'a, Self, Unweighted<Self::Item>>
    where
        Self: Sized,
        Self::Item: Future,
    {
        PooledOrdered::new(self, pool.into(), unweighted)
    }

    /// [`pooled_ordered`](PooledStreamExt::pooled_ordered) with a weight for
    /// each call (see
    /// [`pooled_unordered_weighted`](PooledStreamExt::pooled_unordered_weighted)):
    /// the weights order admission, the outcomes still come in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use pool_runtime::{Order, Pool, PooledStreamExt};
    /// use std::cell::RefCell;
    /// use std::future::Future;
    /// use std::pin::Pin;
    /// use std::task::{Context, Poll};
    ///
    /// /// A job that knows how urgent it is, and notes when it runs.
    /// struct Job<'a> {
    ///     urgency: i64,
    ///     ran: &'a RefCell<Vec<i64>>,
    /// }
    ///
    /// impl Future for Job<'_> {
    ///     type Output = i64;
    ///     fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<i64> {
    ///         self.ran.borrow_mut().push(self.urgency);
    ///         Poll::Ready(self.urgency)
    ///     }
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::builder().order(Order::Priority).size(1).build()?;
    /// let ran = RefCell::new(Vec::new());
    /// let busy = pool.acquire().await?; // the only slot: the stream's calls wait
    /// let jobs = [3, 1].map(|urgency| Job { urgency, ran: &ran });
    /// let mut done = Box::pin(
    ///     futures::stream::iter(jobs).pooled_ordered_weighted(&pool, |job: &Job| job.urgency),
    /// );
    /// assert!(futures::poll!(done.next()).is_pending());
    /// drop(busy);
    /// let outputs: Vec<_> = done.collect().await;
    /// assert_eq!(outputs, [Ok(3), Ok(1)], "outcomes in input order");
    /// assert_eq!(*ran.borrow(), [1, 3], "admitted by weight");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    fn pooled_ordered_weighted<'a, W>(
        self,
        pool: impl Into<PoolRef<'a>>,
        weight: W,
    ) -> PooledOrdered<'a, Self, W>
    where
        Self: Sized,
        Self::Item: Future,
        W: FnMut(&Self::Item) -> i64,
    {
        PooledOrdered::new(self, pool.into(), weight)
    }
}

impl<S: Stream + ?Sized> PooledStreamExt for S {}

/// The output of a stream's call.
type Outcome<S> = Result<<<S as Stream>::Item as Future>::Output, Rejected>;

// ---- completion order --------------------------------------------------------

pin_project! {
    /// The stream of [`PooledStreamExt::pooled_unordered`] and
    /// [`pooled_unordered_weighted`](PooledStreamExt::pooled_unordered_weighted):
    /// each call's outcome, in the order the calls finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::future::{pending, ready, Either};
    /// use futures::StreamExt;
    /// use pool_runtime::{Pool, PooledStreamExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// let slow_then_fast = [Either::Left(pending::<&str>()), Either::Right(ready("fast"))];
    /// let mut outcomes = futures::stream::iter(slow_then_fast).pooled_unordered(&pool);
    /// assert_eq!(outcomes.next().await, Some(Ok("fast")), "in the order the calls finish");
    /// assert_eq!(outcomes.in_flight(), 1);
    /// drop(outcomes);
    /// assert_eq!(pool.stats().cancelled, 1, "dropping the stream drops its calls");
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct PooledUnordered<'a, S, W>
    where
        S: Stream,
        S::Item: Future,
    {
        // Dropped first: the calls started free their slots before the
        // items not yet pulled are dropped with the stream (their `Drop` is
        // the user's code and may call the pool).
        calls: Calls<Call<'a, S::Item>>,
        #[pin]
        stream: S,
        stream_done: bool,
        pool: PoolRef<'a>,
        weight: W,
        limit: usize,
    }
}

impl<'a, S, W> PooledUnordered<'a, S, W>
where
    S: Stream,
    S::Item: Future,
    W: FnMut(&S::Item) -> i64,
{
    fn new(stream: S, pool: PoolRef<'a>, weight: W) -> Self {
        PooledUnordered {
            stream,
            stream_done: false,
            pool,
            weight,
            limit: usize::MAX,
            calls: Calls::new(),
        }
    }

    /// Holds at most `limit` of the stream's items at once (a `limit` of 0
    /// counts as 1), when that is fewer than twice the pool's size: for a
    /// stream that should take only part of a pool's slots, as
    /// `buffer_unordered(limit)` would.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use pool_runtime::{Pool, PooledStreamExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(8);
    /// let mut calls = Box::pin(
    ///     futures::stream::repeat_with(|| std::future::pending::<()>())
    ///         .pooled_unordered(&pool)
    ///         .limit(3),
    /// );
    /// assert!(futures::poll!(calls.next()).is_pending());
    /// assert_eq!(pool.stats().running, 3, "three of the pool's eight slots");
    /// drop(calls);
    /// assert_eq!(pool.stats().running, 0);
    /// # });
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The stream's items pulled and not yet yielded (all of them in flight).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use pool_runtime::{Pool, PooledStreamExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// let mut calls = futures::stream::repeat_with(|| std::future::pending::<()>())
    ///     .pooled_unordered(&pool);
    /// assert!(futures::poll!(calls.next()).is_pending());
    /// assert_eq!(calls.in_flight(), 4, "2 x size pulled from an endless stream");
    /// assert_eq!((pool.stats().running, pool.stats().waiting), (2, 2));
    /// # });
    /// ```
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }
}

impl<S, W> Stream for PooledUnordered<'_, S, W>
where
    S: Stream,
    S::Item: Future,
    W: FnMut(&S::Item) -> i64,
{
    type Item = Outcome<S>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let bound = this.pool.bound(*this.limit);
        while !*this.stream_done && this.calls.len() < bound {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(work)) => {
                    let weight = (this.weight)(&work);
                    this.calls.push(this.pool.submit(weight, work), 0);
                }
                Poll::Ready(None) => *this.stream_done = true,
                Poll::Pending => break,
            }
        }
        // Places matter only in input order.
        this.calls.lost.clear();
        match this.calls.poll_any(cx) {
            Poll::Ready(Some((_, outcome))) => Poll::Ready(Some(outcome)),
            // No calls: the stream is done, or it was polled and is pending.
            Poll::Ready(None) if *this.stream_done => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        size_hint(&self.stream, self.stream_done, self.calls.len())
    }
}

impl<S, W> FusedStream for PooledUnordered<'_, S, W>
where
    S: Stream,
    S::Item: Future,
    W: FnMut(&S::Item) -> i64,
{
    fn is_terminated(&self) -> bool {
        self.stream_done && self.calls.len() == 0
    }
}

impl<S, W> fmt::Debug for PooledUnordered<'_, S, W>
where
    S: Stream,
    S::Item: Future,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledUnordered")
            .field("pool", &self.pool)
            .field("in_flight", &self.calls.len)
            .field("stream_done", &self.stream_done)
            .finish_non_exhaustive()
    }
}

/// The stream's own hint plus the items the adapter holds.
fn size_hint<S: Stream>(stream: &S, done: bool, held: usize) -> (usize, Option<usize>) {
    if done {
        return (held, Some(held));
    }
    let (lower, upper) = stream.size_hint();
    (
        lower.saturating_add(held),
        upper.and_then(|upper| upper.checked_add(held)),
    )
}

// ---- input order -------------------------------------------------------------

pin_project! {
    /// The stream of [`PooledStreamExt::pooled_ordered`] and
    /// [`pooled_ordered_weighted`](PooledStreamExt::pooled_ordered_weighted):
    /// each call's outcome, in the order of the stream's items.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::channel::oneshot;
    /// use futures::future::Either;
    /// use futures::StreamExt;
    /// use pool_runtime::{Pool, PooledStreamExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// let (send, first) = oneshot::channel::<&str>();
    /// let items = [
    ///     Either::Left(async { first.await.unwrap() }),
    ///     Either::Right(async { "second" }),
    /// ];
    /// let mut outcomes = Box::pin(futures::stream::iter(items).pooled_ordered(&pool));
    /// assert!(futures::poll!(outcomes.next()).is_pending(), "`second` is held back");
    /// send.send("first").unwrap();
    /// let outcomes: Vec<_> = outcomes.collect().await;
    /// assert_eq!(outcomes, [Ok("first"), Ok("second")], "in the order of the items");
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct PooledOrdered<'a, S, W>
    where
        S: Stream,
        S::Item: Future,
    {
        // Dropped first, as in `PooledUnordered`.
        calls: Calls<Call<'a, S::Item>>,
        #[pin]
        stream: S,
        stream_done: bool,
        pool: PoolRef<'a>,
        weight: W,
        limit: usize,
        // The place of the next item pulled.
        next_in: u64,
        // The place of the next outcome to yield; `outcomes[i]` is that of
        // item `next_out + i`, once it finished.
        next_out: u64,
        outcomes: VecDeque<Held<Outcome<S>>>,
        // Places in `outcomes` held as lost (panicked), not yet skipped.
        lost: usize,
    }
}

/// An item's outcome as the ordered adapter holds it until its turn.
enum Held<T> {
    /// Still running (or waiting for its slot).
    Running,
    Finished(T),
    /// Its call panicked: its place is skipped.
    Lost,
}

impl<T> Held<T> {
    /// Holds the item of place `seq` in `outcomes`, whose first is place
    /// `next_out` (every item from `next_out` on is held, so it fits).
    fn put(outcomes: &mut VecDeque<Held<T>>, next_out: u64, seq: u64, held: Held<T>) {
        let at = (seq - next_out) as usize;
        if outcomes.len() <= at {
            outcomes.resize_with(at + 1, || Held::Running);
        }
        outcomes[at] = held;
    }
}

impl<'a, S, W> PooledOrdered<'a, S, W>
where
    S: Stream,
    S::Item: Future,
    W: FnMut(&S::Item) -> i64,
{
    fn new(stream: S, pool: PoolRef<'a>, weight: W) -> Self {
        PooledOrdered {
            stream,
            stream_done: false,
            pool,
            weight,
            limit: usize::MAX,
            calls: Calls::new(),
            next_in: 0,
            next_out: 0,
            outcomes: VecDeque::new(),
            lost: 0,
        }
    }

    /// As [`PooledUnordered::limit`]: at most `limit` items held (in flight or
    /// finished and held back), when that is fewer than twice the pool's size.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use pool_runtime::{Pool, PooledStreamExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(8);
    /// let mut calls = futures::stream::repeat_with(|| std::future::pending::<()>())
    ///     .pooled_ordered(&pool)
    ///     .limit(3);
    /// assert!(futures::poll!(calls.next()).is_pending());
    /// assert_eq!((calls.in_flight(), pool.stats().running), (3, 3));
    /// # });
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The stream's items pulled and not yet yielded: in flight, or finished
    /// and held back for an earlier one.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use pool_runtime::{Pool, PooledStreamExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(2);
    /// let first = futures::future::pending::<u8>();
    /// let rest = futures::stream::repeat_with(|| std::future::ready(0u8));
    /// let mut calls = Box::pin(
    ///     futures::stream::once(async { futures::future::Either::Left(first) })
    ///         .chain(rest.map(futures::future::Either::Right))
    ///         .pooled_ordered(&pool),
    /// );
    /// assert!(futures::poll!(calls.next()).is_pending());
    /// assert_eq!(calls.in_flight(), 4, "2 x size: the first, and 3 finished ones held back");
    /// assert_eq!((pool.stats().running, pool.stats().completed), (1, 3));
    /// # });
    /// ```
    pub fn in_flight(&self) -> usize {
        self.held()
    }

    fn held(&self) -> usize {
        // At most the bound, a `usize`; a panicked item's place is not held:
        // it will never be yielded.
        ((self.next_in - self.next_out) as usize).saturating_sub(self.lost + self.calls.lost.len())
    }
}

impl<S, W> Stream for PooledOrdered<'_, S, W>
where
    S: Stream,
    S::Item: Future,
    W: FnMut(&S::Item) -> i64,
{
    type Item = Outcome<S>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let bound = this.pool.bound(*this.limit) as u64;
        for seq in this.calls.lost.drain(..) {
            Held::put(this.outcomes, *this.next_out, seq, Held::Lost);
            *this.lost += 1;
        }
        loop {
            // Panicked places at the front are skipped first: they leave
            // room under the bound for the items pulled next (a place that
            // filled the bound would otherwise leave nothing in flight and
            // the stream unpolled, so nothing to wake this task).
            while let Some(Held::Lost) = this.outcomes.front() {
                *this.next_out += 1;
                *this.lost -= 1;
                this.outcomes.pop_front();
            }
            while !*this.stream_done && *this.next_in - *this.next_out < bound {
                match this.stream.as_mut().poll_next(cx) {
                    Poll::Ready(Some(work)) => {
                        let weight = (this.weight)(&work);
                        this.calls
                            .push(this.pool.submit(weight, work), *this.next_in);
                        *this.next_in += 1;
                    }
                    Poll::Ready(None) => *this.stream_done = true,
                    Poll::Pending => break,
                }
            }
            if let Some(Held::Finished(_)) = this.outcomes.front() {
                *this.next_out += 1;
                let Some(Held::Finished(outcome)) = this.outcomes.pop_front() else {
                    unreachable!("just seen")
                };
                return Poll::Ready(Some(outcome));
            }
            match this.calls.poll_any(cx) {
                Poll::Ready(Some((seq, outcome))) => {
                    Held::put(this.outcomes, *this.next_out, seq, Held::Finished(outcome));
                }
                Poll::Ready(None) => {
                    // No call in flight, so no outcome is held back, and
                    // the bound had room: the stream is done, or it was
                    // polled and is pending.
                    debug_assert!(this.outcomes.is_empty());
                    return if *this.stream_done {
                        Poll::Ready(None)
                    } else {
                        Poll::Pending
                    };
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        size_hint(&self.stream, self.stream_done, self.held())
    }
}

impl<S, W> FusedStream for PooledOrdered<'_, S, W>
where
    S: Stream,
    S::Item: Future,
    W: FnMut(&S::Item) -> i64,
{
    fn is_terminated(&self) -> bool {
        self.stream_done && self.held() == 0
    }
}

impl<S, W> fmt::Debug for PooledOrdered<'_, S, W>
where
    S: Stream,
    S::Item: Future,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledOrdered")
            .field("pool", &self.pool)
            .field("in_flight", &self.calls.len)
            .field(
                "held_back",
                &self
                    .outcomes
                    .iter()
                    .filter(|held| matches!(held, Held::Finished(_)))
                    .count(),
            )
            .field("stream_done", &self.stream_done)
            .finish_non_exhaustive()
    }
}
