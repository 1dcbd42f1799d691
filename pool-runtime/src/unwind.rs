//! Catching a panic of the user's code where the pool calls it, so that it
//! stops there.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f` (the user's code) and catches a panic out of it: the panic hook
/// has reported it, and `None` is returned. The caught payload is dropped
/// by [`drop_payload`], so that a payload whose own `Drop` panics cannot
/// unwind out of the catch after all.
#[inline(always)]
pub(crate) fn caught<T>(f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(out) => Some(out),
        Err(payload) => {
            drop_payload(payload);
            None
        }
    }
}

/// Drops a caught panic's payload, which is the user's value: a `Drop` of
/// it that panics is caught in turn, and that second payload is forgotten
/// (a small leak, in preference to a panic unwinding through the pool's
/// bookkeeping, or an abort while unwinding).
#[cold]
#[inline(never)]
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}
