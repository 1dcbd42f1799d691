//! The waiter node a queued call keeps inside its own (pinned) future, linked
//! into the generic intrusive list ([`list`](crate::admission::list)). A waiting call costs
//! no heap allocation: its node lives in the caller's future.
//!
//! Implementation details. Safety rests on two rules:
//! * a node's links and waker are read and written only under the pool lock;
//! * a node that is linked into a list is never moved or freed: its owner
//!   unlinks it under the lock before its memory goes away (the owning future
//!   is `!Unpin` and unlinks in `Drop`).

use crate::admission::lend::Lend;
use crate::admission::list::{Link, Pointers};
use crate::sync::{AtomicU8, Ordering, UnsafeCell};
use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::Waker;

/// The owner's own flags on its node (bits).
pub(crate) mod flag {
    /// Ignores reentrancy frames: an independent call (`Pool::spawn`).
    pub(crate) const INDEPENDENT: u8 = 1;
    /// The call's work finished and was judged: nothing of it is left to drop.
    pub(crate) const FINISHED: u8 = 2;
    /// Never waits (`try_acquire`): polled once, then given up if queued, so
    /// no admission deadline is armed for it.
    pub(crate) const UNTIMED: u8 = 4;
    /// The call's work (or its judge, or its drop) panicked while the call
    /// held its slot: if the call is dropped still holding it, it panicked.
    pub(crate) const PANICKED: u8 = 8;
    /// Counted as submitted on its way into the queue's lock (a call that
    /// found no free slot): if its first poll unwinds before the node is
    /// linked or admitted (a waker whose `clone` panics), its drop counts it
    /// as cancelled, so that the call is accounted for once.
    pub(crate) const STARTED: u8 = 16;
    /// Still counted in the room's count (sync barging): it left the room
    /// without a slot, and its queueing (under the lock), its admission or
    /// its drop counts it out, whichever comes first. So a caller moving
    /// from the room to the queue is never counted in neither, and a closed
    /// pool is not drained while one is on its way.
    pub(crate) const IN_ROOM: u8 = 32;
    /// Dropped while waiting, it has left the queue (and freed a slot it was
    /// handed meanwhile) before its work was dropped: its drop has nothing
    /// left to do (see `Acquire::drop_work`).
    pub(crate) const LEFT: u8 = 64;
    /// A permit's: its slot goes wherever the work moves it, so a lend it
    /// borrows is never taken for one held on a thread of its own.
    pub(crate) const MOVABLE: u8 = 128;
}

/// Where a node stands. Written under the lock, read by the owner without it.
pub(crate) mod status {
    /// Not linked anywhere.
    pub(crate) const IDLE: u8 = 0;
    /// Linked into the wait queue.
    pub(crate) const QUEUED: u8 = 1;
    /// Linked into the hold list: waiting for `resume` (never-rejecting calls).
    pub(crate) const HELD: u8 = 2;
    /// Unlinked and given a slot by whoever released it.
    pub(crate) const ADMITTED: u8 = 3;
    /// Unlinked and turned away because the pool closed.
    pub(crate) const CLOSED: u8 = 4;
    /// Unlinked and handed the slot it waited for as a nested call: its
    /// parent's, lent to it by the nested call that returned it.
    pub(crate) const LENT: u8 = 5;

    // The values below are the owner's own bookkeeping, written only while the
    // node is not linked (the core never reads them).

    /// Not yet submitted; the call may be turned away.
    pub(crate) const START_REJECT: u8 = 10;
    /// Not yet submitted; the call waits instead of being turned away.
    pub(crate) const START_WAIT: u8 = 11;
    /// Holds a slot (a panic out of its work sets [`flag::PANICKED`](super::flag::PANICKED)).
    pub(crate) const RUNNING: u8 = 12;
    /// Runs under its parent's slot (a nested call).
    pub(crate) const NESTED: u8 = 13;
    /// Finished, rejected, or its slot was handed on: nothing left to release.
    pub(crate) const DONE: u8 = 14;
    /// Left the room without a slot (a sync caller of a pool with sync
    /// barging; the call may be turned away): counted as submitted as it
    /// came in, it takes the queue's path at its first poll, off the
    /// inline fast path, and is not counted (or reported as started) again.
    pub(crate) const ROOM_LEFT: u8 = 16;
    /// Counted as submitted (and reported as started), its first poll
    /// unwound on its way into the queue (its waker's `clone` panicked)
    /// and left it unlinked: polled again, it takes the queue's path, off
    /// the inline fast path, and is not counted again. Its mode is
    /// [`Waiter::is_never_rejected`](super::Waiter::is_never_rejected).
    pub(crate) const RESTART: u8 = 18;
    /// Turned away (counted and reported) when its task had spent its
    /// cooperative budget: the reason, kept in the node's weight, is the
    /// answer of its next poll (see `Acquire::answer_turned_away`). Holds
    /// nothing: dropped, it counts nothing more.
    pub(crate) const TURNED_AWAY: u8 = 20;

    // The two tests below rely on this numbering: each pair differs in its
    // low bit only, and no other status masks to either.
    const _: () = assert!(
        RUNNING & 1 == 0
            && NESTED == RUNNING | 1
            && START_REJECT & 1 == 0
            && START_WAIT == START_REJECT | 1
            && DONE & !1 != RUNNING
            && DONE & !1 != START_REJECT
            && LENT < START_REJECT
            && ROOM_LEFT & !1 != RUNNING
            && ROOM_LEFT & !1 != START_REJECT
            && RESTART & !1 != RUNNING
            && RESTART & !1 != START_REJECT
            && RESTART & !1 != ROOM_LEFT
            && TURNED_AWAY & !1 != RUNNING
            && TURNED_AWAY & !1 != START_REJECT
    );

    /// [`RUNNING`] or [`NESTED`] (one mask and compare).
    #[inline(always)]
    pub(crate) const fn holds_slot(status: u8) -> bool {
        status & !1 == RUNNING
    }

    /// [`START_REJECT`] or [`START_WAIT`] (one mask and compare).
    #[inline(always)]
    pub(crate) const fn is_start(status: u8) -> bool {
        status & !1 == START_REJECT
    }
}

pub(crate) struct Waiter {
    /// Its links in the wait queue or the hold list.
    pointers: Pointers<Waiter>,
    waker: UnsafeCell<Option<Waker>>,
    weight: UnsafeCell<i64>,
    /// The lend a nested call runs under, or waits for (besides a free slot)
    /// while queued. Read by the core under the lock while the node is
    /// linked; otherwise the owner's.
    under: UnsafeCell<Option<Arc<Lend>>>,
    /// The thread (`nested::thread_id`) of a call nested under a lend taken
    /// from a blocking job's inherited frame, which runs on another thread
    /// than the call that lends it; 0 otherwise. Written whenever `under`
    /// is set to a lend (and only then: a call that never nests pays
    /// nothing for it), so it is initialized whenever `under` holds one;
    /// read by the core under the lock as it hands the lend on.
    elsewhere: UnsafeCell<MaybeUninit<u32>>,
    status: AtomicU8,
    /// A call that is never turned away (set at creation, never changed):
    /// closing or aborting the pool leaves it waiting for a slot.
    never_rejected: bool,
    /// The owner's own flags ([`flag`]); the core never reads them.
    flags: UnsafeCell<u8>,
    _pinned: PhantomPinned,
}

// Safety: `pointers` is a field of the node, and a linked node is pinned
// (see the module docs).
unsafe impl Link for Waiter {
    fn pointers(node: NonNull<Waiter>) -> NonNull<Pointers<Waiter>> {
        // Safety: `node` points to a live `Waiter`; no reference is formed.
        unsafe { NonNull::new_unchecked(std::ptr::addr_of_mut!((*node.as_ptr()).pointers)) }
    }
}

/// The lists waiters are kept in.
pub(crate) type List = crate::admission::list::List<Waiter>;

// Safety: the cells are only touched under the pool lock (see module docs).
// The cells are `sync::UnsafeCell`s: under `cfg(loom)`, loom's, which check
// that rule in the models.
unsafe impl Send for Waiter {}
unsafe impl Sync for Waiter {}

impl Waiter {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::with_status(status::IDLE)
    }

    #[inline]
    pub(crate) fn with_status(initial: u8) -> Self {
        Waiter {
            pointers: Pointers::new(),
            waker: UnsafeCell::new(None),
            weight: UnsafeCell::new(0),
            under: UnsafeCell::new(None),
            elsewhere: UnsafeCell::new(MaybeUninit::uninit()),
            status: AtomicU8::new(initial),
            never_rejected: initial == status::START_WAIT,
            flags: UnsafeCell::new(0),
            _pinned: PhantomPinned,
        }
    }

    /// Whether the call is never turned away (see the field).
    #[inline]
    pub(crate) fn is_never_rejected(&self) -> bool {
        self.never_rejected
    }

    /// The node's status, as its owner sees it without the lock.
    #[inline]
    pub(crate) fn status(&self) -> u8 {
        self.status.load(Ordering::Acquire)
    }

    /// Sets the status. Caller holds the lock.
    #[inline]
    pub(crate) fn set_status(&self, status: u8) {
        self.status.store(status, Ordering::Release);
    }

    /// The call now holds a slot. Its weight is no longer needed (it is
    /// unlinked), so a pool that times its calls keeps the admission time,
    /// `stamp`, in its place.
    #[inline]
    pub(crate) fn admitted(&self, stamp: Option<u64>) {
        self.started(stamp, status::RUNNING);
    }

    /// The call runs nested under a lend: as [`admitted`](Waiter::admitted),
    /// its start kept as `stamp` (an adaptive pool judges its overload as
    /// sent then).
    #[inline]
    pub(crate) fn nested(&self, stamp: Option<u64>) {
        self.started(stamp, status::NESTED);
    }

    #[inline]
    fn started(&self, stamp: Option<u64>, status: u8) {
        if let Some(now) = stamp {
            // Safety: a started node is unlinked; only its owner touches it.
            self.weight
                .with_mut(|weight| unsafe { *weight = now as i64 });
        }
        self.set_status(status);
    }

    /// # Safety
    /// Caller holds the lock, or the node is unlinked.
    #[inline]
    pub(crate) unsafe fn weight(&self) -> i64 {
        self.weight.with(|weight| *weight)
    }

    /// # Safety
    /// The node is not linked (so nobody else reads the weight).
    #[inline]
    pub(crate) unsafe fn set_weight(&self, weight: i64) {
        self.weight.with_mut(|cell| *cell = weight);
    }

    /// The lend a queued nested call waits for (null: none), for comparison.
    ///
    /// # Safety
    /// Caller holds the lock, or the node is unlinked.
    #[inline]
    pub(crate) unsafe fn lend(&self) -> *const Lend {
        self.under.with(|under| {
            (*under)
                .as_deref()
                .map_or(std::ptr::null(), |l| l as *const Lend)
        })
    }

    /// Clears the lend the call runs under or waits for.
    ///
    /// # Safety
    /// The node is not linked, or the caller holds the lock.
    #[inline]
    pub(crate) unsafe fn clear_under(&self) {
        let old = self.under.with_mut(|under| (*under).take());
        drop(old);
    }

    /// Sets the lend the call runs under or waits for, for a call on the
    /// thread `elsewhere` (0: the lender's; see the field).
    ///
    /// # Safety
    /// As `clear_under`.
    #[inline]
    pub(crate) unsafe fn set_under(&self, lend: Arc<Lend>, elsewhere: u32) {
        self.elsewhere
            .with_mut(|cell| *cell = MaybeUninit::new(elsewhere));
        let old = self.under.with_mut(|under| (*under).replace(lend));
        drop(old);
    }

    /// The thread of a call nested under an inherited frame's lend, 0 if it
    /// is not one (see the field).
    ///
    /// # Safety
    /// Caller holds the lock, or the node is unlinked; the node is under a
    /// lend (`under` holds one, so `elsewhere` was written with it).
    #[inline]
    pub(crate) unsafe fn elsewhere(&self) -> u32 {
        self.elsewhere.with(|cell| (*cell).assume_init())
    }

    /// Takes the lend out.
    ///
    /// # Safety
    /// The node is not linked.
    #[inline]
    pub(crate) unsafe fn take_under(&self) -> Option<Arc<Lend>> {
        self.under.with_mut(|under| (*under).take())
    }

    /// Where the lend is kept, for the reentrancy frame of the call's work.
    ///
    /// # Safety
    /// The node is not linked while the pointer is used (the call holds a
    /// slot), and stays in place (it is pinned).
    #[inline]
    pub(crate) unsafe fn under_ptr(&self) -> *const Option<Arc<Lend>> {
        self.under.with(|under| under)
    }

    /// Whether the owner's `bit` is set ([`flag`]).
    #[inline]
    pub(crate) fn flag(&self, bit: u8) -> bool {
        // Safety: the flags are the owner's alone; the core never touches them.
        self.flags.with(|flags| unsafe { *flags } & bit != 0)
    }

    /// Sets the owner's `bit`.
    #[inline]
    pub(crate) fn set_flag(&self, bit: u8) {
        // Safety: as in `flag`.
        self.flags.with_mut(|flags| unsafe { *flags |= bit });
    }

    /// Clears the owner's `bit`.
    #[inline]
    pub(crate) fn clear_flag(&self, bit: u8) {
        // Safety: as in `flag`.
        self.flags.with_mut(|flags| unsafe { *flags &= !bit });
    }

    /// Whether the node's waker wakes the same task as `waker` (no
    /// executor code runs: `will_wake` compares the two).
    ///
    /// # Safety
    /// Caller holds the lock.
    #[inline]
    pub(crate) unsafe fn wakes(&self, waker: &Waker) -> bool {
        self.waker
            .with(|slot| (*slot).as_ref().is_some_and(|old| old.will_wake(waker)))
    }

    /// Stores `waker` (cloned by the caller without the lock: a `clone` is
    /// the executor's code) in place of the node's; returns the replaced
    /// one, to be dropped outside the lock.
    ///
    /// # Safety
    /// Caller holds the lock.
    #[inline]
    #[must_use = "the replaced waker is dropped outside the lock"]
    pub(crate) unsafe fn replace_waker(&self, waker: Waker) -> Option<Waker> {
        self.waker.with_mut(|slot| (*slot).replace(waker))
    }

    /// Stores `waker` (already cloned, so that a panicking `clone` cannot
    /// interrupt the caller's critical section) in a node being linked for
    /// the first time, which holds no waker yet: nothing is dropped (were
    /// there one, it would leak, not be used after free).
    ///
    /// # Safety
    /// Caller holds the lock.
    #[inline]
    pub(crate) unsafe fn register_owned(&self, waker: Waker) {
        // A node is linked (and given its first waker) once, from its start.
        self.waker.with_mut(|slot| {
            debug_assert!((*slot).is_none());
            slot.write(Some(waker));
        });
    }

    /// # Safety
    /// Caller holds the lock.
    #[inline]
    pub(crate) unsafe fn take_waker(&self) -> Option<Waker> {
        self.waker.with_mut(|slot| (*slot).take())
    }

    /// Whether the node holds no waker and no lend (nothing to drop).
    ///
    /// # Safety
    /// The node is not linked.
    pub(crate) unsafe fn holds_nothing(&self) -> bool {
        self.waker.with(|slot| (*slot).is_none()) && self.under.with(|under| (*under).is_none())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::pin::pin;

    fn ptr(w: &Waiter) -> NonNull<Waiter> {
        NonNull::from(w)
    }

    #[test]
    fn push_pop_and_remove_keep_order_and_length() {
        let nodes: [_; 5] = std::array::from_fn(|_| Waiter::new());
        let nodes = pin!(nodes);
        let n = &*nodes;
        let mut list = List::new();
        unsafe {
            for node in n {
                list.push_back(ptr(node));
            }
            list.remove(ptr(&n[1]));
            assert_eq!(list.len(), 4);
            assert_eq!(list.pop_back(), Some(ptr(&n[4])));
            assert_eq!(list.pop_front(), Some(ptr(&n[0])));
            assert_eq!(list.pop_front(), Some(ptr(&n[2])));
            assert_eq!(list.pop_front(), Some(ptr(&n[3])));
            assert_eq!(list.pop_front(), None);
        }
        assert!(list.is_empty());
    }
}
