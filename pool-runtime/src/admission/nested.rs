//! Reentrancy: which running calls the code on this thread is inside of.
//!
//! While a call's work is being polled (or, for sync and blocking calls, run),
//! a frame naming its pool and its [`Lender`] is pushed on a thread-local
//! stack. A call into the same pool made from inside that work sees the frame
//! and asks that call for its slot (see [`lend`](crate::admission::lend) for the rule).
//! The frame exists only during the parent's `poll`, so it covers work polled
//! *within* the parent's task (awaited futures, `join!`ed futures) and tasks
//! of a runtime driven inside a sync call, not tasks spawned onto other
//! threads: those are independent calls and queue like any other.
//!
//! A blocking call's closure is the exception: it runs on another thread,
//! but inside the calls whose work made it (they wait for it, and cannot
//! end before it unless they are dropped). So the frames of the thread that
//! made it are taken along when it is admitted ([`inherit`]) and entered
//! beneath its own on the executor's thread ([`Inherited::enter`]): a call
//! of any of those pools made from the closure runs under its caller's
//! slot, as it would have on the caller's thread. Without them, a closure
//! of pool Y calling pool X from inside X's work deadlocked a full X: the
//! call waited for the slot its own ancestor held while waiting for it.

use crate::admission::core::Core;
use crate::admission::lend::{Lend, Lender};
use crate::sync::pool_thread_local;
use std::cell::Cell;
use std::ptr;
use std::sync::Arc;

struct Frame {
    core: *const Core,
    /// The running call's lender; null in a frame inherited from another
    /// thread ([`Inherited`]), whose lend is `up` itself.
    lender: *const Lender,
    /// The lend the running call is itself nested under, if any; in an
    /// inherited frame, the lend of the call it stands for.
    up: *const Option<Arc<Lend>>,
    parent: *const Frame,
}

impl Frame {
    /// The lend of the frame's call, and whether the frame is inherited
    /// (the call runs on another thread).
    ///
    /// # Safety
    /// The frame is on this thread's stack of frames (see [`lend_of`]).
    unsafe fn lend(&self) -> Option<(Arc<Lend>, bool)> {
        if self.lender.is_null() {
            return (*self.up).clone().map(|lend| (lend, true));
        }
        // The frame's call is running its work on this thread, and its
        // `lender` and `up` outlive the frame.
        Some(((*self.lender).get((*self.up).as_ref()), false))
    }
}

pool_thread_local! {
    static TOP: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// A number for this thread, never 0 (for [`Lend`]'s record of which
/// thread holds a lend through an inherited frame).
pub(crate) fn thread_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    pool_thread_local! {
        static ID: Cell<u32> = const { Cell::new(0) };
    }
    ID.with(|id| {
        if id.get() == 0 {
            let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // (After 2^32 threads: skip 0, the "none".)
            id.set(next.max(1));
        }
        id.get()
    })
}

/// Whether this thread is running the work of any call at all (of any
/// pool): if not, no call made now is nested.
#[inline]
pub(crate) fn any() -> bool {
    !TOP.with(Cell::get).is_null()
}

/// The lend of the innermost call on this thread that holds a slot of `core`,
/// if the current thread is running work of such a call.
#[inline]
pub(crate) fn lend_of(core: &Core) -> Option<Arc<Lend>> {
    lend_here(core).map(|(lend, _)| lend)
}

/// [`lend_of`], and whether that call's work runs on another thread (the
/// frame is a blocking job's inherited one: see [`inherit`]).
#[inline]
pub(crate) fn lend_here(core: &Core) -> Option<(Arc<Lend>, bool)> {
    let mut frame = TOP.with(Cell::get);
    while !frame.is_null() {
        // Safety: frames live on the stack of `enter` (or the frames of
        // `Inherited::enter`), which pops them before returning (or
        // unwinding).
        let f = unsafe { &*frame };
        if ptr::eq(f.core, core) {
            // Safety: `f` is on this thread's stack of frames.
            return unsafe { f.lend() };
        }
        frame = f.parent;
    }
    None
}

/// The reentrancy frames of the calls whose work a blocking call was made
/// in, innermost first: each call's core and lend, taken on the caller's
/// thread as the call is admitted ([`inherit`]) and entered beneath the
/// call's own frame on the executor's thread ([`Inherited::enter`]).
///
/// A lend taken this way is not borrowed: a call made from the closure
/// borrows it as a nested call on the caller's thread would (and waits if
/// another has it); once the call it stands for ends, it is no longer lent
/// and such a call waits for a slot like any other. Holding it keeps
/// nothing: neither the slot nor the call.
#[derive(Default)]
pub(crate) struct Inherited {
    frames: Vec<(Arc<Core>, Option<Arc<Lend>>)>,
}

/// The frames of this thread (none outside any call's work: nothing is
/// allocated then). Called where the calls' work runs (see
/// [`Lender::get`]).
pub(crate) fn inherit() -> Inherited {
    let mut frames = Vec::new();
    let mut frame = TOP.with(Cell::get);
    while !frame.is_null() {
        // Safety: as in `lend_here`.
        let f = unsafe { &*frame };
        // Safety: `f` is on this thread's stack of frames; its core is
        // alive while it is.
        if let (Some(lend), Some(core)) = (unsafe { f.lend() }, unsafe { &*f.core }.arc()) {
            frames.push((core, Some(lend.0)));
        }
        frame = f.parent;
    }
    Inherited { frames }
}

impl Inherited {
    /// Runs `f`, a blocking job's closure on the executor's thread, with
    /// the inherited frames as the thread's only ones: whatever frames the
    /// thread had are set aside meanwhile (a rayon thread that runs this job
    /// while another job waits in `join` or `yield_now`: that job's calls
    /// are not this one's parents; a job run inline on its caller's thread
    /// inherited those very frames).
    pub(crate) fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let base = TOP.with(Cell::get);
        let _pop = Pop(base);
        TOP.with(|top| top.set(ptr::null()));
        let frames = self.frames.iter().rev();
        // Outermost first, each the parent of the next; the capacity is
        // reserved, so no frame moves once another points at it.
        let mut stack: Vec<Frame> = Vec::with_capacity(self.frames.len());
        for (core, lend) in frames {
            let parent = stack
                .last()
                .map_or(ptr::null(), |frame| frame as *const Frame);
            stack.push(Frame {
                core: Arc::as_ptr(core),
                lender: ptr::null(),
                up: lend,
                parent,
            });
        }
        if let Some(top) = stack.last() {
            TOP.with(|cell| cell.set(top));
        }
        f()
    }
}

/// The first answer `pick` gives for the pools whose calls' work this
/// thread is running, innermost first (isolation's look-up, the ceiling's
/// test for a group call that holds no ceiling slot).
pub(crate) fn innermost<T>(mut pick: impl FnMut(&Core) -> Option<T>) -> Option<T> {
    let mut frame = TOP.with(Cell::get);
    while !frame.is_null() {
        // Safety: as in `lend_of`; a frame's core outlives the frame.
        let f = unsafe { &*frame };
        if let Some(found) = pick(unsafe { &*f.core }) {
            return Some(found);
        }
        frame = f.parent;
    }
    None
}

/// Puts back the frame that was on top (also when unwinding).
struct Pop(*const Frame);

impl Drop for Pop {
    #[inline]
    fn drop(&mut self) {
        let parent = self.0;
        TOP.with(|top| top.set(parent));
    }
}

/// Runs `f` as the work of a call of `core` that lends its slot through
/// `lender` (and runs under the lend at `up`, if nested). `up` stays valid
/// and unchanged while `f` runs.
#[inline]
pub(crate) fn enter<R>(
    core: &Core,
    lender: &Lender,
    up: *const Option<Arc<Lend>>,
    f: impl FnOnce() -> R,
) -> R {
    let frame = Frame {
        core,
        lender,
        up,
        parent: TOP.with(Cell::get),
    };
    TOP.with(|top| top.set(&frame));
    let _pop = Pop(frame.parent);
    f()
}
