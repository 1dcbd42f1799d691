//! Lending a running call's slot to the calls nested in its work.
//! Implementation details.
//!
//! The reentrancy rule: a call made from inside work that holds a slot of the
//! same pool (a *nested* call, found through the thread-local frames of
//! [`nested`](crate::admission::nested)) may run under that slot instead of waiting for
//! a second one, so nested calls never deadlock a full pool — but
//!
//! * only one nested call at a time uses a lent slot: the slot is *borrowed*,
//!   and the others wait, in the pool's queue, for a free slot or for the
//!   borrow to come back, whichever comes first;
//! * only while the lender holds it: a borrower that outlives its lender (a
//!   future returned out of the work, a blocking job whose caller went away)
//!   keeps the slot busy until it ends, and releases it then;
//! * a borrower lends the slot on in turn, so nesting has no depth limit.
//!
//! A [`Lend`] is created the first time a call's slot is asked for by a nested
//! call (most calls never need one), from the thread's spare lends when it
//! has one: a call that ends with its lend borrowed by nobody leaves it
//! there (up to [`MAX_SPARE`] per thread), so calls that nest calls
//! allocate nothing once warm. Its state is one atomic word, so
//! borrowing and returning a slot nobody else wants takes one CAS each; a
//! return with waiters, or after the lender is gone, goes through the pool
//! lock ([`Core::return_lend`](crate::admission::core::Core::return_lend)).

use crate::sync::{AtomicUsize, Ordering};
use std::cell::UnsafeCell;
use std::sync::Arc;

/// A nested call runs under the slot.
const BORROWED: usize = 1;
/// The lender has finished: the borrower now releases the slot.
const OWNER_GONE: usize = 2;
/// The borrower runs on another thread (a blocking job): waiting for the slot
/// on the lender's thread cannot stop it.
const OFF_THREAD: usize = 4;
/// One nested call waits in the queue for this slot (a count from here up).
const ONE_WAITER: usize = 8;

/// A running call's slot, as lent to its nested calls.
pub(crate) struct Lend {
    state: AtomicUsize,
    /// The thread (`nested::thread_id`) of a borrower that runs on another
    /// thread than the lender through a blocking job's inherited frame, if
    /// `OFF_THREAD` says so and it is known (0: not known). Written by that
    /// borrower's own thread, or under the pool lock at a hand-off.
    holder: std::sync::atomic::AtomicU32,
    /// What the slot is, for whoever releases it after the lender is gone:
    /// `None` for a slot of the pool itself, or the lend the lender was
    /// itself running under.
    up: Option<Arc<Lend>>,
}

/// What a nested call got when it asked for its parent's slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Borrow {
    /// It runs under the slot.
    Borrowed,
    /// The slot is lent to another nested call: counted as a waiter for it.
    Waiting,
    /// The lender is gone: wait like any other call.
    Unavailable,
}

/// How a borrower's return of a slot ended (see [`Lend::give_back`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Returned {
    /// The lender has it back; nothing else to do.
    ToLender,
    /// Nested calls wait for it: take the slow path to hand it to one.
    Contended,
    /// The lender is gone: the slot is released through [`Lend::up`].
    LenderGone,
}

impl Lend {
    fn new(up: Option<Arc<Lend>>) -> Self {
        Lend {
            state: AtomicUsize::new(0),
            holder: std::sync::atomic::AtomicU32::new(0),
            up,
        }
    }

    /// Borrows the slot if it is free; otherwise, with `wait`, counts the
    /// caller as one of its waiters. One CAS, so a waiter is never counted
    /// against a slot that was returned in the meantime. `elsewhere`: the
    /// caller's thread (`nested::thread_id`) if it runs on another thread
    /// than the lender (a blocking job's inherited frame), 0 if not: the
    /// borrow is then off-thread from the start, never seen without it.
    pub(crate) fn borrow_or_wait(&self, wait: bool, elsewhere: u32) -> Borrow {
        let off = if elsewhere != 0 { OFF_THREAD } else { 0 };
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let (next, got) = if s & OWNER_GONE != 0 {
                return Borrow::Unavailable;
            } else if s & BORROWED == 0 {
                (s | BORROWED | off, Borrow::Borrowed)
            } else if wait {
                (s + ONE_WAITER, Borrow::Waiting)
            } else {
                return Borrow::Unavailable;
            };
            match self
                .state
                .compare_exchange(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if got == Borrow::Borrowed && elsewhere != 0 {
                        // After the borrow: the only thread that compares
                        // it with its own and finds a match is this one,
                        // which sees its own store; until then it is 0
                        // (cleared by the last give-back), no thread's.
                        self.holder.store(elsewhere, Ordering::Relaxed);
                    }
                    return got;
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// A counted waiter left the queue. Caller holds the pool lock.
    pub(crate) fn waiter_left(&self) {
        self.state.fetch_sub(ONE_WAITER, Ordering::AcqRel);
    }

    /// Whether nested calls wait for this slot. Caller holds the pool lock.
    pub(crate) fn has_waiters(&self) -> bool {
        self.state.load(Ordering::Acquire) >= ONE_WAITER
    }

    /// The borrow was handed to a blocking job, which runs on another thread
    /// (not known yet: no holder).
    pub(crate) fn mark_off_thread(&self) {
        self.holder.store(0, Ordering::Relaxed);
        self.state.fetch_or(OFF_THREAD, Ordering::AcqRel);
    }

    /// The borrow passed to a waiter, which runs where its lender's work
    /// runs (`elsewhere` 0), or on the thread `elsewhere` (see
    /// [`borrow_or_wait`](Lend::borrow_or_wait)). Caller holds the pool lock.
    pub(crate) fn passed_on(&self, elsewhere: u32) {
        if elsewhere == 0 {
            self.state.fetch_and(!OFF_THREAD, Ordering::AcqRel);
        } else {
            self.holder.store(elsewhere, Ordering::Relaxed);
            self.state.fetch_or(OFF_THREAD, Ordering::AcqRel);
        }
    }

    /// Whether the slot is lent, through a blocking job's inherited frame,
    /// to a call on the thread `me` (a caller on that thread that parked to
    /// wait for it would stop the call that has to give it back).
    pub(crate) fn lent_to_thread(&self, me: u32) -> bool {
        let s = self.state.load(Ordering::Acquire);
        s & BORROWED != 0
            && s & (OFF_THREAD | OWNER_GONE) == OFF_THREAD
            && self.holder.load(Ordering::Relaxed) == me
    }

    /// Whether the slot is lent to a call that runs on the lender's own thread
    /// (not a blocking job): a sync call there that parked to wait for the
    /// slot would stop the very call that has to give it back.
    pub(crate) fn lent_on_this_thread(&self) -> bool {
        let s = self.state.load(Ordering::Acquire);
        s & BORROWED != 0 && s & (OFF_THREAD | OWNER_GONE) == 0
    }

    /// Whether the lender has finished.
    pub(crate) fn is_lender_gone(&self) -> bool {
        self.state.load(Ordering::Acquire) & OWNER_GONE != 0
    }

    /// The borrower is done with the slot. Lock-free unless someone waits for
    /// it or the lender is gone.
    pub(crate) fn give_back(&self) -> Returned {
        self.give_back_unless(true)
    }

    /// [`give_back`](Lend::give_back) under the pool lock, when no waiter
    /// could be handed the slot: either the lender takes it back, or (it is
    /// gone) the caller must release it.
    pub(crate) fn give_back_locked(&self) -> Returned {
        self.give_back_unless(false)
    }

    fn give_back_unless(&self, contended: bool) -> Returned {
        // The borrower's thread no longer holds it (the slot may pass to a
        // waiter under the lock after this, or come back to the lender).
        self.holder.store(0, Ordering::Relaxed);
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & OWNER_GONE != 0 {
                return Returned::LenderGone;
            }
            if contended && s >= ONE_WAITER {
                return Returned::Contended;
            }
            match self.state.compare_exchange(
                s,
                s & !(BORROWED | OFF_THREAD),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Returned::ToLender,
                Err(actual) => s = actual,
            }
        }
    }

    /// The lender has finished. `true`: the slot is not borrowed, and the
    /// lender releases it now. `false`: a nested call runs under it and will
    /// release it when it ends (the lender's own upstream goes with it, in
    /// [`up`](Lend::up)).
    pub(crate) fn lender_done(&self) -> bool {
        self.state.fetch_or(OWNER_GONE, Ordering::AcqRel) & BORROWED == 0
    }

    /// The slot this lend gives out: `None` for the pool's own.
    pub(crate) fn up(&self) -> Option<&Arc<Lend>> {
        self.up.as_ref()
    }
}

/// The lend of a running call, created when a nested call first asks for it.
///
/// Touched only on the thread running the call: by nested calls through the
/// reentrancy frame while the call's work runs, and by the call itself when it
/// finishes (with no frame pushed).
pub(crate) struct Lender {
    lend: UnsafeCell<Option<Arc<Lend>>>,
}

// Safety: the cell is only accessed by the thread that owns (and is running)
// the call, as documented above; the `Arc<Lend>` inside is `Send + Sync`.
unsafe impl Send for Lender {}
unsafe impl Sync for Lender {}

impl Lender {
    #[inline]
    pub(crate) const fn new() -> Self {
        Lender {
            lend: UnsafeCell::new(None),
        }
    }

    /// The call's lend, created on first use with `up` (the lend the call
    /// itself runs under, if it is nested).
    ///
    /// # Safety
    /// Called on the thread running the call, while its work runs (so no
    /// other access to the cell is live).
    pub(crate) unsafe fn get(&self, up: Option<&Arc<Lend>>) -> Arc<Lend> {
        let cell = &mut *self.lend.get();
        cell.get_or_insert_with(|| spare(up).unwrap_or_else(|| Arc::new(Lend::new(up.cloned()))))
            .clone()
    }

    /// The lend, if one was ever created. For the call that owns it, when it
    /// finishes.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<Arc<Lend>> {
        self.lend.get_mut().take()
    }
}

/// The most spare lends a thread keeps (none under loom).
#[cfg(not(loom))]
pub(crate) const MAX_SPARE: usize = 32;

/// A thread's spare lends: unshared, chained through `up`.
#[cfg(not(loom))]
struct Spares {
    head: std::cell::Cell<Option<Arc<Lend>>>,
    count: std::cell::Cell<usize>,
}

#[cfg(not(loom))]
thread_local! {
    static SPARES: Spares = const {
        Spares {
            head: std::cell::Cell::new(None),
            count: std::cell::Cell::new(0),
        }
    };
}

/// A spare lend of this thread, made new for a call under `up`. (Never
/// under loom: a spare would outlive the model's execution.)
fn spare(up: Option<&Arc<Lend>>) -> Option<Arc<Lend>> {
    #[cfg(not(loom))]
    {
        SPARES
            .try_with(|spares| {
                let mut lend = spares.head.take()?;
                let fresh = Arc::get_mut(&mut lend).expect("a spare lend is not shared");
                spares.head.set(fresh.up.take());
                spares.count.set(spares.count.get() - 1);
                fresh.up = up.cloned();
                Some(lend)
            })
            .ok()
            .flatten()
    }
    #[cfg(loom)]
    {
        let _ = up;
        None
    }
}

/// The lend of a call that ended with nothing borrowing its slot
/// ([`Lend::lender_done`] said so): kept as one of this thread's spares if
/// nothing else holds it (a nested call that returned the slot may still
/// hold it a moment) and the thread has room, dropped otherwise.
#[cfg_attr(loom, allow(unused_mut))]
pub(crate) fn finished(mut lend: Arc<Lend>) {
    #[cfg(not(loom))]
    let _ = SPARES.try_with(|spares| {
        let count = spares.count.get();
        let Some(done) = Arc::get_mut(&mut lend).filter(|_| count < MAX_SPARE) else {
            return;
        };
        *done.state.get_mut() = 0;
        // (Drops the upstream lend it ran under: a count, no more.)
        done.up = spares.head.take();
        spares.head.set(Some(lend));
        spares.count.set(count + 1);
    });
    #[cfg(loom)]
    drop(lend);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_borrower_at_a_time_and_waiters_are_counted() {
        let lend = Lend::new(None);
        assert_eq!(lend.borrow_or_wait(true, 0), Borrow::Borrowed);
        assert_eq!(lend.borrow_or_wait(false, 0), Borrow::Unavailable);
        assert_eq!(lend.borrow_or_wait(true, 0), Borrow::Waiting);
        assert!(lend.has_waiters());
        assert_eq!(lend.give_back(), Returned::Contended);
        lend.waiter_left();
        assert_eq!(lend.give_back(), Returned::ToLender);
        assert_eq!(lend.borrow_or_wait(false, 0), Borrow::Borrowed);
    }

    #[test]
    fn a_lender_that_finishes_first_leaves_the_slot_to_its_borrower() {
        let lend = Lend::new(None);
        assert_eq!(lend.borrow_or_wait(true, 0), Borrow::Borrowed);
        assert!(!lend.lender_done(), "borrowed: the borrower releases");
        assert_eq!(lend.give_back(), Returned::LenderGone);
        assert_eq!(lend.borrow_or_wait(true, 0), Borrow::Unavailable);

        let idle = Lend::new(None);
        assert!(idle.lender_done(), "not borrowed: the lender releases");
    }
}
