//! Reentrancy: which pools the code running on this thread holds a slot of.
//!
//! While a call's work is being polled (or, for sync calls, run), a frame naming
//! its pool is pushed on a thread-local stack. A call into the same pool made
//! from inside that work sees the frame and runs under its parent's slot
//! instead of waiting for a second one, so nested calls never deadlock a full
//! pool. The frame exists only during the parent's `poll`, so it covers work
//! polled *within* the parent's task (awaited futures, `join!`ed futures), not
//! tasks the work spawns: those are independent calls and queue like any other.

use crate::core::Core;
use crate::sync::pool_thread_local;
use std::cell::Cell;
use std::ptr;

struct Frame {
    core: *const Core,
    parent: *const Frame,
}

pool_thread_local! {
    static TOP: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// Whether the current thread is running work that holds a slot of `core`.
#[inline]
pub(crate) fn holds(core: &Core) -> bool {
    let mut frame = TOP.with(Cell::get);
    while !frame.is_null() {
        // Safety: frames live on the stack of `enter`, which pops them
        // before returning (or unwinding).
        let f = unsafe { &*frame };
        if ptr::eq(f.core, core) {
            return true;
        }
        frame = f.parent;
    }
    false
}

/// Runs `f` with a frame for `core` pushed.
#[inline]
pub(crate) fn enter<R>(core: &Core, f: impl FnOnce() -> R) -> R {
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
        parent: TOP.with(Cell::get),
    };
    TOP.with(|top| top.set(&frame));
    let _pop = Pop(frame.parent);
    f()
}
