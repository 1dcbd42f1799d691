//! Waiting for a slot: the state machine every kind of call shares (async,
//! sync, blocking, spawned). Implementation details.
//!
//! An [`Acquire`] owns its waiter node and, once admitted, the slot (its own,
//! or one lent by its parent, see [`lend`](crate::admission::lend)): dropping it in any
//! state releases what it holds (a queue position, a slot, a borrow) and
//! counts the outcome, which is what makes every call cancel-safe.

use crate::admission::core::{Core, Enqueued, Left, Mode, Outcome};
use crate::admission::lend::{Borrow, Lender};
use crate::admission::nested;
use crate::admission::waiter::{flag, status, Waiter};
use crate::call::held::{self, Detached};
use crate::call::Form;
use crate::pool::rejected::Rejected;
use crate::scale::adaptive::Verdict;
use crate::time::timer::Sleep;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{ready, Context, Poll};
use std::time::Instant;

/// Waits for a slot of the pool behind `R` (a `&Core` or an `Arc<Core>`).
///
/// Its `get_unchecked_mut`s are not field projections (pin-project-lite's
/// job): no field is ever handed out pinned. The node is used in place, by
/// shared reference and by address (it is linked into the wait queue), and
/// the other fields are plain data; what the unsafe blocks promise is only
/// that the node does not move.
pub(crate) struct Acquire<R: Deref<Target = Core>> {
    core: R,
    /// Dropped by hand (as is `lender`): a finished call's node and lender
    /// hold nothing, so its drop skips them; the other drops go through
    /// `drop_undone`, which drops them.
    node: ManuallyDrop<Waiter>,
    /// Armed only while the call waits (queued or held, or just taken off
    /// the queue and not yet polled): dropped by hand there, so a call that
    /// never waited has no drop glue to run for it.
    deadline: ManuallyDrop<Option<Pin<Box<Sleep>>>>,
    /// This call's slot as lent to the calls nested in its work. (The lend it
    /// runs under itself, if nested, is kept in its node.)
    lender: ManuallyDrop<Lender>,
    /// What features `tracing` and `metrics` report of the call.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    obs: crate::obs::Call,
}

impl<R: Deref<Target = Core>> Acquire<R> {
    /// A call of `form` (which features `tracing` and `metrics` report).
    pub(crate) fn new(core: R, weight: i64, mode: Mode, form: Form) -> Self {
        let node = Waiter::with_status(match mode {
            Mode::Reject => status::START_REJECT,
            Mode::Wait => status::START_WAIT,
        });
        // Safety: the node is not linked.
        unsafe { node.set_weight(weight) };
        if form == Form::Permit {
            node.set_flag(flag::MOVABLE);
        }
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        let _ = form;
        Acquire {
            core,
            node: ManuallyDrop::new(node),
            deadline: ManuallyDrop::new(None),
            lender: ManuallyDrop::new(Lender::new()),
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            obs: crate::obs::Call::new(form),
        }
    }

    /// The pool this call is of.
    #[inline]
    pub(crate) fn core(&self) -> &R {
        &self.core
    }

    /// A call that never runs under its parent's slot (`Pool::spawn`).
    #[cfg(feature = "tokio")]
    pub(crate) fn independent(self) -> Self {
        self.node.set_flag(flag::INDEPENDENT);
        self
    }

    /// A call that is polled once and given up if it has to wait
    /// (`try_acquire`): it arms no admission deadline.
    pub(crate) fn untimed(self) -> Self {
        self.node.set_flag(flag::UNTIMED);
        self
    }

    /// Whether this waiting call is a nested one whose parent's slot is lent
    /// to another call running on this same thread: parking the thread to
    /// wait for it would stop the call that has to give it back.
    pub(crate) fn waits_for_its_own_thread(&self) -> bool {
        // Safety: read by the owner; the lend stays in place while it waits.
        let Some(lend) = (unsafe { self.node.lend().as_ref() }) else {
            return false;
        };
        // Safety: as above; the node is under `lend`.
        match unsafe { self.node.elsewhere() } {
            0 => lend.lent_on_this_thread(),
            // Nested under an inherited frame's lend: its call runs on
            // another thread; what matters is whether the lend is held on
            // this one.
            me => lend.lent_to_thread(me),
        }
    }

    /// Whether the call's work completed (see [`mark_finished`](Acquire::mark_finished)).
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.node.flag(flag::FINISHED)
    }

    /// The call's work completed and its wrapper dropped what it owned.
    #[inline]
    pub(crate) fn mark_finished(&self) {
        self.node.set_flag(flag::FINISHED);
    }

    /// Clears the lend the call runs under or waits for.
    fn clear_under(&self) {
        // Safety: only called while the node is not linked.
        unsafe { self.node.clear_under() }
    }

    /// Waits for admission. Once admitted (or nested) it keeps returning
    /// `Ready(Ok(()))`; after a rejection, `Ready(Err(_))` again. Each step
    /// reports what it decided (features `tracing` and `metrics`).
    #[inline(always)]
    pub(crate) fn poll_acquire(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Rejected>> {
        // Tests in the order of how often they are taken, not a jump table:
        // an admitted call's work is polled most, then each call starts once
        // and, if it waited, is handed a slot once.
        let s = self.node.status();
        // Every poll of an admitted call's work.
        if status::holds_slot(s) {
            return Poll::Ready(Ok(()));
        }
        // The first poll of a call that is not nested in a call of this
        // pool (no reentrancy frame on this thread at all, or one that
        // ignores them), when a slot is free: take it, inline.
        if status::is_start(s) {
            if !nested::any() || self.node.flag(flag::INDEPENDENT) {
                if self.core.try_acquire_fast() {
                    // Safety: nothing is moved out; the node stays where it is.
                    unsafe { self.get_unchecked_mut() }.started_in_free_slot();
                    return Poll::Ready(Ok(()));
                }
                // Not nested, and no slot free a moment ago: wait (or be
                // turned away) without looking for a lend or trying again.
                return self.start_unnested(cx);
            }
        } else if s == status::ADMITTED && self.deadline.is_none() {
            // A waiter handed a slot by the call that released it.
            // Safety: nothing is moved out; the node stays where it is.
            let this = unsafe { self.get_unchecked_mut() };
            this.clear_under();
            this.take_slot();
            return Poll::Ready(Ok(()));
        }
        self.poll_admission(cx)
    }

    /// The fast path's test, for a call not yet started: it is not nested
    /// in a call of this pool (no reentrancy frame on this thread at all,
    /// or it ignores them) and a slot was free, which it took (one CAS).
    #[inline(always)]
    fn took_free_slot(&self) -> bool {
        (!nested::any() || self.node.flag(flag::INDEPENDENT)) && self.core.try_acquire_fast()
    }

    /// The call started in the free slot [`took_free_slot`](Acquire::took_free_slot) took.
    #[inline(always)]
    fn started_in_free_slot(&mut self) {
        self.core.count_submitted();
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        // Safety: not yet linked.
        self.obs.start(&self.core, || unsafe { self.node.weight() });
        self.take_slot();
    }

    /// The call's fast path alone, for a caller that would otherwise have to
    /// set up a place to wait (tower's waiting mode boxes its acquire
    /// future; a sync caller waits in the room): admitted if it would have
    /// been admitted at its first poll without waiting; otherwise `false`,
    /// with nothing changed or counted (the call is not started: dropping
    /// it counts nothing).
    pub(crate) fn try_fast(self: Pin<&mut Self>) -> bool {
        let started = matches!(
            self.node.status(),
            status::START_REJECT | status::START_WAIT
        );
        if !(started && self.took_free_slot()) {
            return false;
        }
        // Safety: nothing is moved out; the node stays where it is.
        unsafe { self.get_unchecked_mut() }.started_in_free_slot();
        true
    }

    /// A sync caller of a pool with sync barging that found no free slot
    /// ([`try_fast`](Acquire::try_fast)), before its first poll: if the
    /// pool lets it, waits in the room (outside the queue, see `admission/room.rs`) until
    /// a slot frees and it takes it (`true`: admitted), or until `deadline`,
    /// a pause or a close (`false`: counted as submitted, it goes on to its
    /// first poll, the queue's path). Not for calls nested in a call of
    /// this pool (`false` at once, nothing counted): they go through the
    /// queue's path, which knows about their parents' slots. (A call made
    /// in work of another pool, such as the application-wide ceiling's, is
    /// not nested in this one.)
    #[inline(never)]
    pub(crate) fn barge(self: Pin<&mut Self>, deadline: Option<Instant>) -> bool {
        // Safety: nothing is moved out; the node stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        debug_assert!(status::is_start(this.node.status()));
        if !this.node.flag(flag::INDEPENDENT) && nested::lend_of(&this.core).is_some() {
            return false;
        }
        let core: &Core = &this.core;
        // A never-rejecting call (`run_wait`) waits there too; the waiting
        // bound does not keep it out, and an abort sends it on to the queue.
        let never_rejected = this.node.is_never_rejected();
        if !core.enter_room(never_rejected) {
            return false;
        }
        core.count_submitted();
        // Counted: were anything below to unwind, the drop would count the
        // call as cancelled.
        this.node.set_flag(flag::STARTED);
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        {
            // Safety: not yet linked.
            this.obs.start(core, || unsafe { this.node.weight() });
            this.obs.waiting(core);
        }
        if core.wait_in_room(never_rejected, deadline) {
            this.take_slot();
            return true;
        }
        // Still counted in the room until the queue takes it (`enqueue`,
        // under the lock) or it takes a slot on its way. Already waiting, it
        // keeps the admission timeout it started with: its caller times the
        // rest of the wait (no deadline is armed from the pool's current
        // timeout).
        this.node.set_status(status::ROOM_LEFT);
        this.node.set_flag(flag::IN_ROOM | flag::UNTIMED);
        false
    }

    /// A caller from the room (`ROOM_LEFT`) took a slot on its way to the
    /// queue: counted out of the room.
    fn out_of_room(&self) {
        self.node.clear_flag(flag::IN_ROOM);
        self.core.room_left_admitted(self.node.is_never_rejected());
    }

    /// The first poll of a call that is not nested in a call of this pool
    /// and found no free slot (it just tried): it starts, then waits or is
    /// turned away. Off the inline path, like
    /// [`poll_admission`](Acquire::poll_admission), without its dispatch.
    #[inline(never)]
    fn start_unnested(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Rejected>> {
        // Safety: nothing is moved out; the node stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        let mode = if this.node.status() == status::START_WAIT {
            Mode::Wait
        } else {
            Mode::Reject
        };
        this.core.count_submitted();
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        // Safety: not yet linked.
        this.obs.start(&this.core, || unsafe { this.node.weight() });
        // Safety: `this` is pinned (it came out of `self`).
        match unsafe { this.wait_or_reject(cx, mode, false, false) } {
            Some(Poll::Ready(Err(reason))) => this.answer_turned_away(cx, reason),
            Some(poll) => poll,
            // Safety: pinned; nothing is moved out. The deadline was armed:
            // poll it and register with it.
            None => unsafe { Pin::new_unchecked(this) }.poll_admission(cx),
        }
    }

    /// A call turned away at this poll (counted and reported), answered
    /// within its tokio task's cooperative budget, as tokio's own resources
    /// charge each operation: with none left, the answer is kept
    /// ([`status::TURNED_AWAY`], the reason in the node) and given at the
    /// next poll, after the task yielded to the runtime. So a task that
    /// retries a paused, closed or full pool in a loop that never waits
    /// lets the task that would let it in run (see
    /// [`call::budget`](crate::call::budget)).
    #[cold]
    #[inline(never)]
    fn answer_turned_away(
        &mut self,
        cx: &mut Context<'_>,
        reason: Rejected,
    ) -> Poll<Result<(), Rejected>> {
        // Kept first: asking for the budget may unwind (tokio clones the
        // waker to wake it later), and the call polled again after that
        // gives the same answer.
        // Safety: turned away, so unlinked: the weight is unused.
        unsafe { self.node.set_weight(reason.index() as i64) };
        self.node.set_status(status::TURNED_AWAY);
        ready!(crate::call::charge(cx));
        self.node.set_status(status::DONE);
        Poll::Ready(Err(reason))
    }

    /// A started call that found no free slot: turned away at once if it
    /// is not nested and the pool is closed or paused; otherwise through the
    /// queue's lock — admitted after all, lent its parent's slot, rejected,
    /// or waiting. `None`: waiting, with an admission deadline just armed,
    /// which the caller polls.
    ///
    /// # Safety
    /// `self` is pinned (its node may be linked into the queue by address).
    #[inline(always)]
    unsafe fn wait_or_reject(
        &mut self,
        cx: &mut Context<'_>,
        mode: Mode,
        nested: bool,
        waited: bool,
    ) -> Option<Poll<Result<(), Rejected>>> {
        let this = self;
        let node = NonNull::from(&*this.node);
        let core: &Core = &this.core;
        // (A caller from the room is already waiting: the queue's lock
        // decides, see `Core::enqueue`.)
        if !nested && !waited {
            if let Some(rejected) = core.reject_fast(mode) {
                return Some(Poll::Ready(Err(this.turned_away(rejected))));
            }
        }
        // The enqueue clones the waker first, which may panic: the call,
        // counted as submitted, is then counted as cancelled when dropped,
        // or, polled again, goes on without being counted again (a caller
        // from the room is already `ROOM_LEFT`, which is not counted twice
        // either). Every outcome of the enqueue sets the status.
        this.node.set_flag(flag::STARTED);
        if !waited {
            this.node.set_status(status::RESTART);
        }
        // Safety: the node is pinned inside `self`, unlinked, and
        // `Drop` cancels it while it is linked.
        let weight = unsafe { this.node.weight() };
        let enqueued = unsafe { core.enqueue(node, weight, mode, cx.waker(), waited) };
        if waited {
            // Counted out of the room by `enqueue`, whatever it decided; if
            // turned away (an abort), the pool may be drained now.
            this.node.clear_flag(flag::IN_ROOM);
            if matches!(enqueued, Enqueued::Rejected(_)) {
                core.wake_if_drained();
            }
        }
        match enqueued {
            Enqueued::Admitted => {
                this.clear_under();
                this.take_slot();
                Some(Poll::Ready(Ok(())))
            }
            Enqueued::Lent => {
                core.nested_started();
                this.node.nested(core.admission_stamp());
                #[cfg(any(feature = "tracing", feature = "metrics"))]
                this.obs.admitted(core, false);
                Some(Poll::Ready(Ok(())))
            }
            Enqueued::Rejected(rejected) => {
                this.clear_under();
                Some(Poll::Ready(Err(this.turned_away(rejected))))
            }
            Enqueued::Waiting => {
                #[cfg(any(feature = "tracing", feature = "metrics"))]
                this.obs.waiting(core);
                let timeout = core
                    .admission_timeout()
                    .filter(|_| mode == Mode::Reject && !this.node.flag(flag::UNTIMED));
                let Some(timeout) = timeout else {
                    return Some(Poll::Pending);
                };
                *this.deadline = Some(Sleep::new(timeout, core.uses_tokio_time()));
                None
            }
        }
    }

    /// [`poll_acquire`](Acquire::poll_acquire) off its fast path: the
    /// nested, contended, waiting and turned-away cases.
    #[inline(never)]
    fn poll_admission(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Rejected>> {
        // Safety: nothing is moved out; the node stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        // Safety: pinned (it came out of `self`).
        match unsafe { Pin::new_unchecked(&mut *this) }.admission_step(cx) {
            Poll::Ready(Err(reason)) => this.answer_turned_away(cx, reason),
            poll => poll,
        }
    }

    /// [`poll_admission`](Acquire::poll_admission) itself.
    #[inline(always)]
    fn admission_step(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Rejected>> {
        // Safety: nothing is moved out; the node stays where it is.
        let this = unsafe { self.get_unchecked_mut() };
        let node = NonNull::from(&*this.node);
        loop {
            let core: &Core = &this.core;
            match this.node.status() {
                s @ (status::START_REJECT
                | status::START_WAIT
                | status::ROOM_LEFT
                | status::RESTART) => {
                    // (From the room, a never-rejecting call is still one.)
                    let mode = if s == status::START_WAIT
                        || (s != status::START_REJECT && this.node.is_never_rejected())
                    {
                        Mode::Wait
                    } else {
                        Mode::Reject
                    };
                    // A caller from the room: counted as it came in, and
                    // still counted there until queued or admitted.
                    let waited = s == status::ROOM_LEFT;
                    // A first poll that unwound on its way into the queue
                    // may have set the lend it would wait for: this poll,
                    // maybe outside that frame, looks again.
                    if s == status::RESTART {
                        this.clear_under();
                    }
                    // Counted already: from the room, or by a first poll
                    // that unwound on its way into the queue.
                    if !waited && s != status::RESTART {
                        core.count_submitted();
                        #[cfg(any(feature = "tracing", feature = "metrics"))]
                        // Safety: not yet linked.
                        this.obs.start(core, || unsafe { this.node.weight() });
                    }
                    let mut nested = false;
                    if !this.node.flag(flag::INDEPENDENT) {
                        if let Some((lend, inherited)) = nested::lend_here(core) {
                            // Through a blocking job's inherited frame the
                            // lender runs on another thread (a permit's slot
                            // goes wherever the work takes it: not known).
                            let elsewhere = match inherited && !this.node.flag(flag::MOVABLE) {
                                true => nested::thread_id(),
                                false => 0,
                            };
                            let borrowed =
                                lend.borrow_or_wait(false, elsewhere) == Borrow::Borrowed;
                            // Borrowed, or lent to another nested call: then
                            // wait for it or a free slot, whichever comes first.
                            // Safety: the node is not linked.
                            unsafe { this.node.set_under(lend, elsewhere) };
                            if borrowed {
                                core.nested_started();
                                this.node.nested(core.admission_stamp());
                                if waited {
                                    this.out_of_room();
                                }
                                #[cfg(any(feature = "tracing", feature = "metrics"))]
                                this.obs.admitted(core, false);
                                return Poll::Ready(Ok(()));
                            }
                            nested = true;
                        }
                    }
                    if core.try_acquire_fast() {
                        if nested {
                            this.clear_under();
                        }
                        if waited {
                            this.out_of_room();
                        }
                        this.take_slot();
                        return Poll::Ready(Ok(()));
                    }
                    // Safety: `this` is pinned (it came out of `self`).
                    if let Some(poll) = unsafe { this.wait_or_reject(cx, mode, nested, waited) } {
                        return poll;
                    }
                    // The admission deadline was armed: loop once more to
                    // register with it.
                }
                status::QUEUED | status::HELD => {
                    if let Some(deadline) = this.deadline.as_mut() {
                        if deadline.as_mut().poll(cx).is_ready() {
                            *this.deadline = None;
                            // Safety: pinned; `give_up` moves nothing.
                            let pinned = unsafe { Pin::new_unchecked(this) };
                            return Poll::Ready(pinned.give_up(Rejected::TimedOut));
                        }
                    }
                    // Safety: the node was linked by `enqueue` and is alive.
                    let seen = unsafe { core.refresh_waker(node, cx.waker()) };
                    if seen == status::QUEUED || seen == status::HELD {
                        return Poll::Pending;
                    }
                }
                status::ADMITTED => {
                    *this.deadline = None;
                    this.clear_under();
                    this.take_slot();
                    return Poll::Ready(Ok(()));
                }
                status::LENT => {
                    *this.deadline = None;
                    this.node.nested(core.admission_stamp());
                    #[cfg(any(feature = "tracing", feature = "metrics"))]
                    this.obs.admitted(core, false);
                    return Poll::Ready(Ok(()));
                }
                status::CLOSED => {
                    *this.deadline = None;
                    this.clear_under();
                    return Poll::Ready(Err(this.turned_away(Rejected::Closed)));
                }
                status::RUNNING | status::NESTED => {
                    return Poll::Ready(Ok(()));
                }
                status::TURNED_AWAY => {
                    // Safety: turned away, so unlinked; the weight holds
                    // the reason (`answer_turned_away`).
                    let index = unsafe { this.node.weight() } as usize;
                    return Poll::Ready(Err(Rejected::ALL[index]));
                }
                _ => return Poll::Ready(Err(Rejected::Closed)),
            }
        }
    }

    /// The call takes a slot of its own.
    #[inline(always)]
    fn take_slot(&mut self) {
        self.node.admitted(self.core.admission_stamp());
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        self.obs.admitted(&self.core, true);
    }

    /// The call is turned away for `reason` (counted by the core): it is done.
    #[inline]
    fn turned_away(&mut self, reason: Rejected) -> Rejected {
        self.node.set_status(status::DONE);
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        self.obs.rejected(&self.core, reason);
        reason
    }

    /// Stops waiting (the deadline passed): leaves the queue and is turned away
    /// for `reason`, unless it was admitted (or closed) in the meantime.
    pub(crate) fn give_up(self: Pin<&mut Self>, reason: Rejected) -> Result<(), Rejected> {
        // Safety: nothing is moved out.
        let this = unsafe { self.get_unchecked_mut() };
        *this.deadline = None;
        match this.node.status() {
            status::QUEUED | status::HELD | status::ADMITTED | status::LENT => {
                // Safety: the node was linked by `enqueue` and is in place.
                match unsafe { this.core.cancel(NonNull::from(&*this.node), Some(reason)) } {
                    Left::Slot => {
                        this.clear_under();
                        this.take_slot();
                        return Ok(());
                    }
                    Left::Lent => {
                        this.node.nested(this.core.admission_stamp());
                        #[cfg(any(feature = "tracing", feature = "metrics"))]
                        this.obs.admitted(&this.core, false);
                        return Ok(());
                    }
                    Left::Nothing => {}
                }
                this.clear_under();
                // (An admission timeout is the pool's own queue, not the
                // server's answer: the adaptive policy does not see it.)
                let closed = this.node.status() == status::CLOSED;
                Err(this.turned_away(if closed { Rejected::Closed } else { reason }))
            }
            status::CLOSED => {
                this.clear_under();
                Err(this.turned_away(Rejected::Closed))
            }
            status::RUNNING | status::NESTED => Ok(()),
            _ => Err(reason),
        }
    }

    /// Whether the call holds a slot (its own or a lent one) and has not
    /// finished.
    fn holds_slot(&self) -> bool {
        matches!(self.node.status(), status::RUNNING | status::NESTED)
    }

    /// Runs `f` as the admitted call's work: with the reentrancy frame pushed
    /// (so calls nested in `f` can borrow this call's slot), and marked so that
    /// a panic out of `f` is counted as one.
    #[inline]
    pub(crate) fn run_work<T>(&self, f: impl FnOnce() -> T) -> T {
        let this: &Self = self;
        // Safety: the call holds a slot, so its node is not linked; it is pinned.
        let under = unsafe { this.node.under_ptr() };
        let unwinding = Unwinding(&this.node);
        #[cfg(feature = "tracing")]
        let out = match this.obs.span() {
            Some(span) => span.in_scope(|| nested::enter(&this.core, &this.lender, under, f)),
            None => nested::enter(&this.core, &this.lender, under, f),
        };
        #[cfg(not(feature = "tracing"))]
        let out = nested::enter(&this.core, &this.lender, under, f);
        std::mem::forget(unwinding);
        out
    }

    /// Drops the call's work: inside the call's frame while it holds its slot,
    /// so that a `Drop` of the work that calls the same pool runs under this
    /// slot instead of waiting for it (a full pool would never free one).
    ///
    /// # Safety
    /// `work` is not used again.
    pub(crate) unsafe fn drop_work<W>(self: Pin<&mut Self>, work: Pin<&mut ManuallyDrop<W>>) {
        // Dropped in place: the pinning guarantee holds.
        let work = work.get_unchecked_mut();
        self.drop_with(|| ManuallyDrop::drop(work));
    }

    /// Runs `drop`, the drop of what the call owns (its work, its judge):
    /// inside the call's frame while it holds its slot; otherwise once it
    /// has left the queue.
    pub(crate) fn drop_with(mut self: Pin<&mut Self>, drop: impl FnOnce()) {
        if self.holds_slot() {
            self.run_work(drop);
        } else {
            // Waiting (or handed a slot it never used): out of the queue
            // first, a slot handed to it freed, then the work dropped. The
            // work's `Drop` is the user's code, which may call this pool: as
            // a queued call it could be handed the slot that call waits for.
            // (Marked first, so that its own drop does not leave again even
            // if a waker woken by the freed slot panics: caught here, the
            // panic hook has shown it, and the work is dropped all the same.)
            if matches!(
                self.node.status(),
                status::QUEUED | status::HELD | status::ADMITTED | status::LENT
            ) {
                self.node.set_flag(flag::LEFT);
                let this = self.as_mut();
                crate::unwind::caught(move || this.leave_undone());
            }
            drop();
        }
    }

    /// The work is done: release the slot (or the borrow).
    #[inline]
    pub(crate) fn finish(self: Pin<&mut Self>) {
        self.settle(Outcome::Completed, Verdict::Success);
    }

    /// The work just completed (its poll returned, so the call holds its
    /// slot) and was judged (for adaptive pools): release the slot.
    #[inline]
    pub(crate) fn finish_judged(self: Pin<&mut Self>, verdict: Verdict) {
        debug_assert!(self.holds_slot());
        // Safety: nothing is moved out of the pinned parts.
        unsafe { self.get_unchecked_mut() }.end(Outcome::Completed, verdict);
    }

    /// Takes the slot out, for a caller that takes over its release (a
    /// blocking job). The caller made sure no nested call borrowed it (the
    /// work has not run).
    pub(crate) fn detach(self: Pin<&mut Self>) -> Detached {
        // Safety: nothing is moved out of the pinned parts.
        let this = unsafe { self.get_unchecked_mut() };
        // Safety: the node is unlinked once admitted.
        let admitted_at = unsafe { this.node.weight() } as u64;
        this.node.set_status(status::DONE);
        Detached {
            // Safety: admitted, so unlinked.
            under: unsafe { this.node.take_under() },
            admitted_at,
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            obs: this.obs.detach(),
        }
    }

    #[inline(always)]
    fn settle(self: Pin<&mut Self>, outcome: Outcome, verdict: Verdict) {
        // Safety: nothing is moved out of the pinned parts.
        let this = unsafe { self.get_unchecked_mut() };
        if this.holds_slot() {
            this.end(outcome, verdict);
        }
    }

    /// Ends the call, which holds its slot (its own or a borrowed one).
    #[inline(always)]
    fn end(&mut self, outcome: Outcome, verdict: Verdict) {
        self.node.set_status(status::DONE);
        // Reported once the slot is released (see `Call::ended_later`).
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        let _reported = self.obs.ended_later(&self.core, outcome);
        // Safety: the node is unlinked once admitted.
        let admitted_at = unsafe { self.node.weight() } as u64;
        // Safety: it holds a slot, so its node is unlinked.
        let under = unsafe { self.node.take_under() };
        held::end_call(
            &self.core,
            outcome,
            verdict,
            under,
            admitted_at,
            self.lender.take(),
        );
    }
}

/// Dropped only if the code it guards unwinds: marks the call as panicked
/// (no cost on the way out of a normal return, which forgets it).
struct Unwinding<'a>(&'a Waiter);

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        self.0.set_flag(flag::PANICKED);
    }
}

impl<R: Deref<Target = Core>> Drop for Acquire<R> {
    #[inline]
    fn drop(&mut self) {
        if self.deadline.is_some() {
            drop_deadline(&mut self.deadline);
        }
        if self.node.status() != status::DONE {
            // Safety: `self` is pinned (it is only ever used pinned) and is
            // being dropped in place.
            unsafe { Pin::new_unchecked(&mut *self) }.drop_undone();
            // Safety: dropped once, here, and not used again.
            unsafe {
                ManuallyDrop::drop(&mut self.node);
                ManuallyDrop::drop(&mut self.lender);
            }
        } else {
            // Whatever took it to `DONE` took its waker, its lend and its
            // own lend (the tests run with debug assertions).
            // Safety: done, so unlinked: the node is the owner's alone.
            debug_assert!(unsafe { self.node.holds_nothing() });
            debug_assert!(self.lender.take().is_none());
        }
    }
}

/// Disarms a waiting call's deadline (its timer entry goes with it). The
/// timer releases the caller's waker there (tokio's timer under its own
/// lock): a panic of its `Drop` is caught, since it would otherwise leave
/// `Acquire::drop` before the call left the queue, its node still linked
/// in memory about to be freed.
#[cold]
fn drop_deadline(deadline: &mut ManuallyDrop<Option<Pin<Box<Sleep>>>>) {
    // Safety: called once, from `Drop`; the field is not used again.
    crate::unwind::caught(|| unsafe { ManuallyDrop::drop(deadline) });
}

impl<R: Deref<Target = Core>> Acquire<R> {
    /// Dropped before it was done: leaves the queue, or releases what it
    /// holds, and counts how it ended.
    #[inline(never)]
    fn drop_undone(self: Pin<&mut Self>) {
        if !self.node.flag(flag::LEFT) {
            self.leave_undone();
        }
    }

    /// [`drop_undone`](Self::drop_undone)'s work, whatever the flags say.
    #[inline(never)]
    fn leave_undone(self: Pin<&mut Self>) {
        let this = self;
        match this.node.status() {
            status::QUEUED | status::HELD | status::ADMITTED | status::LENT => {
                // Safety: the node was linked by `enqueue` and is still in place.
                match unsafe { this.core.cancel(NonNull::from(&*this.node), None) } {
                    Left::Slot => {
                        // Safety: nothing is moved out of the pinned parts.
                        let this = unsafe { this.get_unchecked_mut() };
                        #[cfg(any(feature = "tracing", feature = "metrics"))]
                        this.obs.dropped_admitted(&this.core, true);
                        // Reported once the slot is released, also when a
                        // waker woken by the release panics.
                        #[cfg(any(feature = "tracing", feature = "metrics"))]
                        let _reported = this.obs.ended_later(&this.core, Outcome::Cancelled);
                        this.core.release(Outcome::Cancelled);
                    }
                    Left::Lent => {
                        // Safety: nothing is moved out of the pinned parts.
                        let this = unsafe { this.get_unchecked_mut() };
                        #[cfg(any(feature = "tracing", feature = "metrics"))]
                        this.obs.dropped_admitted(&this.core, false);
                        // Safety: `cancel` unlinked it.
                        let under = unsafe { this.node.take_under() };
                        let (cancelled, ignore) = (Outcome::Cancelled, Verdict::Ignore);
                        // Reported once the borrow is returned.
                        #[cfg(any(feature = "tracing", feature = "metrics"))]
                        let _reported = this.obs.ended_later(&this.core, cancelled);
                        held::end_call(&this.core, cancelled, ignore, under, 0, None);
                    }
                    Left::Nothing => {
                        #[cfg(any(feature = "tracing", feature = "metrics"))]
                        {
                            // Safety: nothing is moved out of the pinned parts.
                            let this = unsafe { this.get_unchecked_mut() };
                            let closed = this.node.status() == status::CLOSED;
                            this.obs.dropped_waiting(&this.core, closed);
                        }
                    }
                }
            }
            status::RUNNING | status::NESTED if this.node.flag(flag::PANICKED) => {
                this.settle(Outcome::Panicked, Verdict::Ignore)
            }
            // Its first poll unwound between being counted and reaching the
            // queue (a waker's `clone` panicked): it ends cancelled.
            status::START_REJECT | status::START_WAIT | status::ROOM_LEFT | status::RESTART
                if this.node.flag(flag::STARTED) =>
            {
                if this.node.flag(flag::IN_ROOM) {
                    this.core.room_left_gone(this.node.is_never_rejected());
                }
                this.core.count_abandoned();
                #[cfg(any(feature = "tracing", feature = "metrics"))]
                {
                    // Safety: nothing is moved out of the pinned parts.
                    let this = unsafe { this.get_unchecked_mut() };
                    this.obs.dropped_waiting(&this.core, false);
                }
            }
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            status::CLOSED => {
                // Turned away by an aborting close, which it never saw.
                // Safety: nothing is moved out of the pinned parts.
                let this = unsafe { this.get_unchecked_mut() };
                this.obs.dropped_waiting(&this.core, true);
            }
            _ => this.settle(Outcome::Cancelled, Verdict::Ignore),
        }
    }
}
