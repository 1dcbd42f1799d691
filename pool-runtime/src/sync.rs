//! The synchronisation primitives the core is built on, switched to `loom`'s
//! model-checked versions under `cfg(loom)` (the pattern of tokio's `src/loom`).

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` behind the API of `loom::cell::UnsafeCell`
/// (tokio's `src/loom/std/unsafe_cell.rs`): every access is a closure over
/// the raw pointer, so that under `cfg(loom)` loom sees where each access
/// starts and ends and fails a model on an access it does not order (two
/// threads touching a queue node without the lock between them). Here the
/// closures inline to a plain `get()`.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Reads through the pointer; the caller guarantees no write is live.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Writes through the pointer; the caller guarantees no other access is live.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// One turn of a short wait for another thread to finish a step it takes
/// under a lock (`spins`: the turns so far): spins a little, then yields.
/// Under `cfg(loom)` it always yields, so that loom runs the other thread.
#[cfg(not(loom))]
pub(crate) fn spin(spins: &mut u32) {
    if *spins < 64 {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// See the other `spin`.
#[cfg(loom)]
pub(crate) fn spin(_: &mut u32) {
    loom::thread::yield_now();
}

/// Parking the calling thread (sync calls waiting for a slot, `park.rs`):
/// loom's threads under `cfg(loom)`, so loom sees a parked caller and the
/// `unpark` that wakes it (and reports a lost one as a deadlock).
pub(crate) mod thread {
    #[cfg(not(loom))]
    pub(crate) use std::thread::{current, park, park_timeout, Thread};

    #[cfg(loom)]
    pub(crate) use loom::thread::{current, park, Thread};

    /// loom has no timed park. A timed park may return early anyway (a
    /// spurious wake-up), so under loom it returns at once, after yielding;
    /// the models use no admission timeout (its deadline is wall-clock time).
    #[cfg(loom)]
    pub(crate) fn park_timeout(_: std::time::Duration) {
        loom::thread::yield_now();
    }
}

/// A mutex that ignores poisoning: the core never runs user code while holding
/// it, so a poisoned lock can only come from a panic in a `Waker` clone, and the
/// protected state is consistent at every such point.
pub(crate) struct Mutex<T> {
    #[cfg(not(loom))]
    inner: std::sync::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

pub(crate) type MutexGuard<'a, T> = LockGuard<'a, T>;

#[cfg(not(loom))]
pub(crate) type LockGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type LockGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: std::sync::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A condition variable over [`Mutex`] (sync callers waiting outside the
/// queue, `admission/room.rs`): loom's under `cfg(loom)`, where a timed
/// wait is an untimed one (loom has no clock), so a model reports a lost
/// notification as a deadlock instead of hiding it behind a timeout.
pub(crate) struct Condvar {
    #[cfg(not(loom))]
    inner: std::sync::Condvar,
    #[cfg(loom)]
    inner: loom::sync::Condvar,
}

impl Condvar {
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            inner: std::sync::Condvar::new(),
            #[cfg(loom)]
            inner: loom::sync::Condvar::new(),
        }
    }

    /// Waits for a notification, or until `deadline` (`None`: no deadline);
    /// may return early (a spurious wake-up).
    pub(crate) fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<std::time::Instant>,
    ) -> MutexGuard<'a, T> {
        #[cfg(not(loom))]
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            return match self.inner.wait_timeout(guard, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        #[cfg(loom)]
        let _ = deadline;
        self.inner
            .wait(guard)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn notify_one(&self) {
        self.inner.notify_one();
    }

    pub(crate) fn notify_all(&self) {
        self.inner.notify_all();
    }
}

/// Thread-local storage, per model thread under loom.
///
/// loom's `thread_local!` takes an `expr` fragment, which (edition 2021) does
/// not match a `const { .. }` initialiser, so that form gets its own arm that
/// keeps `const` for std and drops it for loom.
macro_rules! pool_thread_local {
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr };) => {
        #[cfg(not(loom))]
        std::thread_local! { $(#[$attr])* $vis static $name: $t = const { $init }; }
        #[cfg(loom)]
        loom::thread_local! { $(#[$attr])* $vis static $name: $t = $init; }
    };
    ($($tt:tt)*) => {
        #[cfg(not(loom))]
        std::thread_local! { $($tt)* }
        #[cfg(loom)]
        loom::thread_local! { $($tt)* }
    };
}
pub(crate) use pool_thread_local;
