//! The room: where sync callers of a pool with *sync barging* on wait
//! outside the queue, for a bounded time, to take a slot that frees without
//! a thread switch.
//!
//! Why: strict order among more threads than cores costs a thread switch per
//! call. A freed slot is handed to the longest waiter, which is parked, and
//! the releasing thread (its time slice unused) must queue and park behind
//! the others (BENCHMARKS.md, case 8). A caller in the room does not hold a
//! place in the order: a slot that frees goes back to the pool's word (the
//! queue is empty, or it would have been handed on), where whoever asks
//! first takes it, usually the thread that freed it, still running.
//!
//! The queue's invariant is untouched: the room is not the queue, so
//! `QUEUED` still means "the queue is non-empty, and `running >= limit`",
//! and no one in the room ever takes a slot that a queued call is owed.
//!
//! Wake-ups: every release of a barging pool that gives a slot back to the
//! word (not one that hands it to a queued call) checks the room's count
//! after its compare-and-swap, with a `SeqCst` fence between the two, and
//! notifies one caller under the room's lock; a caller counts itself in,
//! then fences and checks the word, under the same lock as it goes to
//! sleep. So either the caller sees the free slot or the release sees the
//! caller (Dekker's pattern: the fences order each side's write before its
//! read; loom checks fences, not `SeqCst` accesses), and the notification
//! cannot fall between the caller's check and its sleep (the loom model
//! `a_sync_barger_is_woken_by_a_release_that_frees_its_slot`). Pools
//! without barging pay one load of their barging bound per release.
//! While a notified caller has not yet looked (`pending`), further releases
//! skip the notification: one caller on its way is enough, since it looks
//! at the word when it runs, and the thread that freed the slot usually
//! takes it again first (without this, every release of a busy pool would
//! wake a thread for nothing). A caller clears `pending` under the lock
//! each time it looks, before its fence and its load of the word: either
//! it sees the slot, or the release sees `pending` clear and notifies.
//! Pause, close and limit changes notify every caller, who then look again.
//! The time bound is also the last resort: a caller leaves the room by its
//! deadline whatever happens, and joins the queue (or is turned away there).

use crate::sync::{fence, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering};
use std::time::{Duration, Instant};

/// The longest a caller in the room sleeps without looking at the word.
const RECHECK: Duration = Duration::from_millis(50);

/// A move out of the room under way (see [`Room::moving`]); it ends when
/// this drops (also when the step it covers unwinds).
pub(crate) struct Moving<'a>(&'a Room);

impl Drop for Moving<'_> {
    fn drop(&mut self) {
        self.0.moves.fetch_add(1, Ordering::Release);
    }
}

pub(crate) struct Room {
    /// Callers in the room (counted in the pool's `waiting`).
    count: AtomicUsize,
    /// Those of them that are never turned away (`run_wait`): an abort
    /// leaves them waiting, as it leaves queued ones.
    never_rejected: AtomicUsize,
    /// A caller was notified and has not looked at the word since.
    pending: AtomicBool,
    /// Moves of callers out of the room into the pool's queue (see
    /// [`moving`](Room::moving)), twice: odd while one is under way.
    moves: AtomicU64,
    lock: Mutex<()>,
    ready: Condvar,
}

impl Room {
    pub(crate) fn new() -> Self {
        Room {
            count: AtomicUsize::new(0),
            never_rejected: AtomicUsize::new(0),
            pending: AtomicBool::new(false),
            moves: AtomicU64::new(0),
            lock: Mutex::new(()),
            ready: Condvar::new(),
        }
    }

    /// Callers in the room now.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Callers in the room that an abort turns away (a moment's reading of
    /// two counts).
    pub(crate) fn rejecting(&self) -> usize {
        let never = self.never_rejected.load(Ordering::Relaxed);
        self.len().saturating_sub(never)
    }

    /// Callers in the room that are never turned away.
    pub(crate) fn never_rejecting(&self) -> usize {
        self.never_rejected.load(Ordering::Relaxed)
    }

    /// A caller comes in (the pool checked, under its lock, that it may
    /// wait: see `Core::enter_room`); `never_rejected`: one that is never
    /// turned away.
    pub(crate) fn enter(&self, never_rejected: bool) {
        if never_rejected {
            self.never_rejected.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits, as a caller counted in by [`enter`](Room::enter), until
    /// `take` admits it (`Some`: counted out), or until `deadline` or until
    /// `gone` says that waiting here is over (`None`: still counted, until
    /// the pool counts it out with [`leave`](Room::leave) as it queues it).
    /// `may_take` and `gone` look at the pool's word (after the fence that
    /// pairs with the releases'). `take` (the pool's compare-and-swap, no
    /// user code) is called under the room's lock, and a caller it admits
    /// is counted out before the lock is released: whoever counts the room
    /// under its lock ([`settled_len`](Room::settled_len),
    /// [`settled_rejecting`](Room::settled_rejecting)) never counts as
    /// waiting a caller that holds its slot.
    pub(crate) fn wait<T>(
        &self,
        never_rejected: bool,
        deadline: Option<Instant>,
        may_take: impl Fn() -> bool,
        gone: impl Fn() -> bool,
        mut take: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        // Counted out if this unwinds (`take` is the pool's code, which
        // does not; this holds even if it did).
        struct Leave<'a>(&'a Room, bool);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.leave(self.1);
            }
        }
        let leave = Leave(self, never_rejected);
        let mut guard = Some(self.lock.lock());
        let admitted = loop {
            // Looking now (under the lock, before the word is loaded).
            self.pending.store(false, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if gone() {
                break None;
            }
            if may_take() {
                if let Some(taken) = take() {
                    // Counted out under the lock, with the slot just taken.
                    self.leave(never_rejected);
                    break Some(taken);
                }
                continue;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break None;
            }
            // Never longer than `RECHECK` at a time: a caller looks at the
            // word again then, whatever the notifications did (a release
            // that saw barging still off as it was being turned on, on a
            // weakly ordered machine, skips the room).
            let held = guard.take().expect("held while checking");
            let recheck = Instant::now().checked_add(RECHECK);
            let until = match (deadline, recheck) {
                (Some(deadline), Some(recheck)) => Some(deadline.min(recheck)),
                (deadline, recheck) => deadline.or(recheck),
            };
            guard = Some(self.ready.wait_until(held, until));
        };
        drop(guard);
        // Admitted: counted out already; otherwise still counted.
        std::mem::forget(leave);
        // A slot is still free: this caller may have been the one a release
        // notified, or, admitted, the one on its way for a release that
        // skipped its notification for another slot meanwhile (`pending`):
        // pass the news on.
        if may_take() {
            if admitted.is_some() {
                self.released();
            } else {
                self.notify_one();
            }
        }
        admitted
    }

    /// Callers in the room, counted under its lock: a caller admitted from
    /// the room is counted out with the slot it took (see
    /// [`wait`](Room::wait)), so this never counts it as waiting.
    #[inline]
    pub(crate) fn settled_len(&self) -> usize {
        match self.len() {
            0 => 0,
            _ => self.settled(Room::len),
        }
    }

    /// [`rejecting`](Room::rejecting), counted under the room's lock (see
    /// [`settled_len`](Room::settled_len)).
    pub(crate) fn settled_rejecting(&self) -> usize {
        match self.len() {
            0 => 0,
            _ => self.settled(Room::rejecting),
        }
    }

    /// `count` of the room under its lock. Out of line: the queue's path
    /// (the waiting bound's check) only reaches it with callers in the room.
    #[cold]
    #[inline(never)]
    fn settled(&self, count: fn(&Room) -> usize) -> usize {
        let _guard = self.lock.lock();
        count(self)
    }

    /// Begins the move of a caller out of the room into the pool's own
    /// count of waiting calls (the pool's queue, or its callers in transit
    /// to it), under the pool's lock, so that moves never overlap: until the
    /// guard drops, [`waiting`](Room::waiting) waits for the move to end.
    /// Without it a snapshot could read the pool's count before the caller
    /// was in it and the room's after it left: a caller that waits
    /// throughout missing from `Stats::waiting` (adversarial round 52). The
    /// move covers two counter updates and no user code (no waker, no
    /// clock), so a snapshot waits for a few instructions at most, unless
    /// the moving thread is preempted in between.
    pub(crate) fn moving(&self) -> Moving<'_> {
        self.moves.fetch_add(1, Ordering::AcqRel);
        Moving(self)
    }

    /// The pool's waiting calls: `queued` (the queue's count, as published
    /// under the pool's lock) and the room's, read while no caller was
    /// moving from one to the other.
    pub(crate) fn waiting(&self, queued: impl Fn() -> usize) -> usize {
        let mut spins = 0;
        loop {
            let before = self.moves.load(Ordering::Acquire);
            if before % 2 == 0 {
                let waiting = queued() + self.count.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.moves.load(Ordering::Relaxed) == before {
                    return waiting;
                }
            }
            crate::sync::spin(&mut spins);
        }
    }

    /// Counts out a caller that left (see [`wait`](Room::wait)), as it
    /// came in.
    pub(crate) fn leave(&self, never_rejected: bool) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        if never_rejected {
            self.never_rejected.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// After a release of a barging pool gave a slot back to the word:
    /// wakes one caller, if any is in the room and none is on its way.
    #[inline]
    pub(crate) fn released(&self) {
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::Relaxed) != 0 && !self.pending.load(Ordering::Relaxed) {
            self.notify_one();
        }
    }

    /// After a change that may concern every caller in the room (a pause,
    /// a close, a new limit, a slot freed off the lock-free path, barging
    /// turned off): wakes them all, if any.
    #[inline]
    pub(crate) fn changed(&self) {
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::Relaxed) != 0 {
            let _guard = self.lock.lock();
            self.pending.store(true, Ordering::Relaxed);
            self.ready.notify_all();
        }
    }

    #[cold]
    #[inline(never)]
    fn notify_one(&self) {
        let _guard = self.lock.lock();
        self.pending.store(true, Ordering::Relaxed);
        self.ready.notify_one();
    }
}
