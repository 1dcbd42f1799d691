//! Wakers collected under the lock and woken after it is released, so a woken
//! task never contends for the lock its waker was taken under.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::task::Waker;

#[cfg(not(loom))]
const CAPACITY: usize = 32;
/// Small under loom, so that models with a few waiters take the path that
/// unlocks, wakes a full batch and relocks in the middle of an operation.
#[cfg(loom)]
const CAPACITY: usize = 2;

/// A fixed-capacity batch of wakers (no heap, no initialisation cost); callers
/// that may collect more unlock, wake the batch, and relock.
///
/// A waker that panics does not stop the others: every collected waker is
/// woken (a waiter handed a slot and never woken would hold it forever), and
/// the first panic is re-raised when the list is dropped, at the end of the
/// operation, so the operation itself is never cut short.
pub(crate) struct WakeList {
    wakers: [MaybeUninit<Waker>; CAPACITY],
    len: usize,
    /// Taken by hand (no drop glue to run for an empty list).
    panic: ManuallyDrop<Option<Panic>>,
}

impl WakeList {
    #[inline]
    pub(crate) fn new() -> Self {
        WakeList {
            wakers: [const { MaybeUninit::uninit() }; CAPACITY],
            len: 0,
            panic: ManuallyDrop::new(None),
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == CAPACITY
    }

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        assert!(!self.is_full(), "WakeList overflow");
        if let Some(waker) = waker {
            self.wakers[self.len].write(waker);
            self.len += 1;
        }
    }

    #[inline]
    pub(crate) fn wake_all(&mut self) {
        if self.len != 0 {
            self.wake_batch();
        }
    }

    fn wake_batch(&mut self) {
        let len = std::mem::take(&mut self.len);
        for slot in &mut self.wakers[..len] {
            // Safety: slots below `len` were written and are read exactly once.
            wake_catching(unsafe { slot.assume_init_read() }, &mut self.panic);
        }
    }
}

impl Drop for WakeList {
    /// An empty list (the common case: most operations wake nobody, or one
    /// waiter that they wake by hand) costs two checks.
    #[inline]
    fn drop(&mut self) {
        if self.len != 0 || self.panic.is_some() {
            self.finish();
        }
    }
}

impl WakeList {
    /// Wakes every waker; a waker's panic is not re-raised (the panic hook
    /// has shown it, and its waiter was woken all the same). For an
    /// operation that has decided for its caller but not yet told it (an
    /// admission that took a slot): unwinding into it would lose that.
    pub(crate) fn wake_all_quietly(self) {
        crate::unwind::caught(move || drop(self));
    }

    /// Wakes what is left, then re-raises the first panic of a waker.
    fn finish(&mut self) {
        self.wake_all();
        reraise(self.panic.take());
    }
}

/// A waker's panic, caught so that the wakers after it are still woken.
pub(crate) type Panic = Box<dyn std::any::Any + Send>;

/// Wakes `waker`, keeping the first panic of a batch in `first` (the one
/// place a waker's panic is caught).
#[inline(always)]
pub(crate) fn wake_catching(waker: Waker, first: &mut Option<Panic>) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| waker.wake())) {
        match first {
            None => *first = Some(payload),
            // A later panic's payload is dropped here: its `Drop` (the
            // waker's value) must not stop the batch.
            Some(_) => crate::unwind::drop_payload(payload),
        }
    }
}

/// Wakes every waker, even if one of them panics; the first panic is
/// re-raised once all are woken (see [`reraise`]).
pub(crate) fn wake_each(wakers: impl IntoIterator<Item = Waker>) {
    let mut first = None;
    for waker in wakers {
        wake_catching(waker, &mut first);
    }
    reraise(first);
}

/// Re-raises a waker's panic in the operation that woke it, unless this
/// thread is already unwinding: a slot released by a call that panicked (a
/// permit, a call's slot dropped while unwinding) is released in a
/// destructor, where a second panic would abort the process. The waker's
/// panic is dropped then; its waiter was woken all the same.
#[inline(always)]
pub(crate) fn reraise(panic: Option<Panic>) {
    if let Some(payload) = panic {
        if !std::thread::panicking() {
            panic::resume_unwind(payload);
        }
        crate::unwind::drop_payload(payload);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Counting(AtomicUsize);
    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Panicking;
    impl Wake for Panicking {
        fn wake(self: Arc<Self>) {
            panic!("a waker that panics");
        }
    }

    #[test]
    fn a_panicking_waker_does_not_lose_the_rest_of_the_batch() {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let out = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut list = WakeList::new();
            list.push(Some(Waker::from(counting.clone())));
            list.push(Some(Waker::from(Arc::new(Panicking))));
            list.push(Some(Waker::from(counting.clone())));
            list.wake_all();
            // The operation goes on after the batch; the panic comes at the end.
            list.push(Some(Waker::from(counting.clone())));
        }));
        assert!(out.is_err(), "the waker's panic is re-raised");
        assert_eq!(counting.0.load(Ordering::SeqCst), 3);
    }
}
