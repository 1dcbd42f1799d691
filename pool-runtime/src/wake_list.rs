//! Wakers collected under the lock and woken after it is released, so a woken
//! task never contends for the lock its waker was taken under.

use std::mem::MaybeUninit;
use std::task::Waker;

const CAPACITY: usize = 32;

/// A fixed-capacity batch of wakers (no heap, no initialisation cost); callers
/// that may collect more unlock, wake the batch, and relock.
pub(crate) struct WakeList {
    wakers: [MaybeUninit<Waker>; CAPACITY],
    len: usize,
}

impl WakeList {
    pub(crate) fn new() -> Self {
        WakeList {
            wakers: [const { MaybeUninit::uninit() }; CAPACITY],
            len: 0,
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

    pub(crate) fn wake_all(&mut self) {
        let len = std::mem::take(&mut self.len);
        for slot in &mut self.wakers[..len] {
            // Safety: slots below `len` were written and are read exactly once.
            unsafe { slot.assume_init_read() }.wake();
        }
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        self.wake_all();
    }
}
