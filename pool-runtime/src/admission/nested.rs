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

use crate::admission::core::Core;
use crate::admission::lend::{Lend, Lender};
use crate::sync::pool_thread_local;
use std::cell::Cell;
use std::ptr;
use std::sync::Arc;

struct Frame {
    core: *const Core,
    lender: *const Lender,
    /// The lend the running call is itself nested under, if any.
    up: *const Option<Arc<Lend>>,
    parent: *const Frame,
}

pool_thread_local! {
    static TOP: Cell<*const Frame> = const { Cell::new(ptr::null()) };
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
    let mut frame = TOP.with(Cell::get);
    while !frame.is_null() {
        // Safety: frames live on the stack of `enter`, which pops them before
        // returning (or unwinding).
        let f = unsafe { &*frame };
        if ptr::eq(f.core, core) {
            // Safety: the frame's call is running its work on this thread, and
            // its `lender` and `up` outlive the frame.
            return Some(unsafe { (*f.lender).get((*f.up).as_ref()) });
        }
        frame = f.parent;
    }
    None
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
    struct Pop(*const Frame);
    impl Drop for Pop {
        #[inline]
        fn drop(&mut self) {
            let parent = self.0;
            TOP.with(|top| top.set(parent));
        }
    }
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
