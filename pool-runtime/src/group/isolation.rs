//! Tests that use global groups, run in parallel, without seeing each
//! other's group state (feature `test-util`): [`Group::isolate`] and its
//! guard, [`Isolation`].

use crate::group::Group;
use crate::pool::Pool;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;

/// Who a call belongs to, for isolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    #[cfg(feature = "tokio")]
    Runtime(tokio::runtime::Id),
    Thread(ThreadId),
}

impl Scope {
    fn current() -> Scope {
        #[cfg(feature = "tokio")]
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            return Scope::Runtime(handle.id());
        }
        Scope::Thread(std::thread::current().id())
    }
}

struct Entry {
    group: usize,
    scope: Scope,
    pool: &'static Pool,
}

/// How many isolations are in force: the shared path looks no further while
/// it is zero.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn entries() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    ENTRIES.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key(group: &Group) -> usize {
    std::ptr::from_ref(group) as usize
}

/// The calling test's own instance of `group`, if it isolated one.
#[inline]
pub(crate) fn lookup(group: &Group) -> Option<&'static Pool> {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    lookup_slow(group)
}

#[cold]
fn lookup_slow(group: &Group) -> Option<&'static Pool> {
    // The shared pool, if started (looked at without starting it).
    let shared = group.pool.get().map(Pool::core);
    let (group, scope) = (key(group), Scope::current());
    let entries = entries();
    let mine = entries.iter().rev().filter(|e| e.group == group);
    // The scope decides; with no instance of its own, a call nested in the
    // work of a call an instance admitted is the isolating test's, wherever
    // that work runs (a blocking job on rayon's threads, or on a thread of
    // its own, has neither the test's runtime nor its thread).
    mine.clone()
        .find(|e| e.scope == scope)
        .or_else(|| {
            // The innermost call of the group decides (a thread may run one
            // test's work inside another's: rayon's `join` steals queued
            // jobs), the shared pool's too: a call nested in shared work is
            // the shared pool's, even inside an instance's work further out.
            crate::admission::nested::innermost(|core| {
                if shared.is_some_and(|shared| std::ptr::eq(shared, core)) {
                    return Some(None);
                }
                mine.clone()
                    .find(|e| std::ptr::eq(e.pool.core(), core))
                    .map(Some)
            })
            .flatten()
        })
        .map(|e| e.pool)
}

/// The calling test's own instance of a group, in force until dropped; see
/// [`Group::isolate`] (feature `test-util`).
///
/// The test is identified by where its calls run: the tokio runtime they run
/// on (every `#[tokio::test]` builds its own, and the tasks it spawns run on
/// it), or, outside any runtime, the thread (a plain `#[test]`). Calls from
/// elsewhere — other tests, threads the test starts outside its runtime —
/// keep using the shared pool. A guard covers the scope it was made in: one
/// made on a plain test's thread does not cover calls the test makes inside
/// a runtime it builds (`block_on`), nor the other way round; isolate in
/// each place that calls the group. Wherever it runs, a call nested in the
/// work of a call the instance admitted (a blocking job on rayon's threads,
/// or on a thread of its own outside a runtime) is the test's too, unless
/// a call of the group's shared pool is nested closer around it (another
/// test's work run inside this one's): the innermost call of the group
/// decides.
///
/// Everything that goes through [`Group::pool`] is isolated: calls, permits,
/// `stats`, `size`, `scale`, `pause`, `close`. A test can pause or close its
/// instance freely: the next test isolates a fresh, open one. Listing
/// ([`groups`](crate::groups)), [`Group::settings`] and configuration
/// reloads see the shared pool.
///
/// While the feature is on, the shared path costs one relaxed atomic load
/// per call; a build without it has no isolation code at all.
///
/// # When the guard is dropped
///
/// New calls through the group go to the shared pool (or an outer
/// isolation's). Calls already running or waiting in the instance go on
/// there, under its limit and order, and finish there; a handle to it kept
/// past the guard ([`Isolation::pool`], or `Group::pool()` taken earlier)
/// still works, but only on the instance, which nothing else uses.
///
/// With feature `metrics` the instance reports under the group's name while
/// the guard lives (its limit adds to the `pooled.limit` gauge, its calls to
/// `running`/`waiting`). When the guard is dropped its limit leaves
/// `pooled.limit` at once, limit changes made to it afterwards move no
/// gauge, and its remaining calls leave `running`/`waiting` as they end: the
/// gauges go back to what they would be without it. The adaptive policy's
/// gauges (`pooled.adaptive.floor`, `pooled.adaptive.latency`) hold one
/// value, not a sum: they stay the shared pool's, which an instance never
/// sets (`pool-runtime/tests/isolation_metrics.rs`).
///
/// The instance itself is never freed: [`Group::pool`] and
/// [`Isolation::pool`] hand it out as a `&'static Pool` (a group is a
/// `static`, and every call of the group borrows its pool for as long as
/// the group lives), so no point comes at which no reference can remain.
/// Freeing it would take an owned handle in those signatures: an API
/// change. What each isolation keeps is small and fixed — about 1 KiB on
/// 64-bit targets (the pool's handle and core), up to about 3.5 KiB for a
/// priority group that had more than a few dozen distinct weights waiting
/// (its queue keeps the capacity of a 64-bucket vector) — whatever the test
/// did with it: calls keep nothing once they end
/// (`pool-runtime/tests/isolation_memory.rs` measures it). A thousand
/// isolations keep about a megabyte.
#[must_use = "the isolation ends when the guard is dropped"]
pub struct Isolation {
    group: usize,
    scope: Scope,
    pool: &'static Pool,
}

impl Isolation {
    /// The isolated pool. It outlives the guard (see [When the guard is
    /// dropped](Isolation#when-the-guard-is-dropped)).
    pub fn pool(&self) -> &'static Pool {
        self.pool
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        let mut entries = entries();
        // This guard's own entry (guards may be dropped out of order).
        if let Some(i) = entries.iter().rposition(|e| {
            e.group == self.group && e.scope == self.scope && std::ptr::eq(e.pool, self.pool)
        }) {
            entries.remove(i);
            ACTIVE.fetch_sub(1, Ordering::Relaxed);
        }
        drop(entries);
        // The pool cannot be freed (see the type's docs), but it stops
        // counting in the gauges of the group's name: its limit leaves
        // `pooled.limit` now, and its calls still running or waiting leave
        // `running`/`waiting` as they end.
        #[cfg(feature = "metrics")]
        self.pool.core().observer().retire();
    }
}

impl fmt::Debug for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Isolation")
            .field("scope", &self.scope)
            .field("pool", &self.pool)
            .finish()
    }
}

impl Group {
    /// Gives the calling test its own instance of this group until the
    /// guard is dropped: a fresh pool with the group's effective settings
    /// (those a start would take now, under the configuration in force:
    /// after a reload that changed the kind, order, policy or executor of a
    /// running group, the loaded ones, which its shared pool takes only at
    /// its next start), used by every call the test makes through the group (see
    /// [`Isolation`] for what counts as the test). Parallel tests then neither share the limit nor see each
    /// other's `pause`, `close`, `scale` or `stats`. Isolating a group the
    /// test already isolated nests: the newest instance serves until its
    /// guard is dropped. The instance is the group's local pool: a group
    /// with a fleet-wide limit (feature `redis`) keeps its one fleet, whose
    /// leases every process (and so every test) shares.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static DB: Group = Group::new(GroupSpec::new("docs::isolated").size(2));
    ///
    /// let _mine = DB.isolate();
    /// DB.pause(); // this test's instance only
    /// assert!(DB.run(|| ()).is_err());
    /// drop(_mine);
    /// assert_eq!(DB.run(|| 1), Ok(1), "the shared pool was never paused");
    /// ```
    pub fn isolate(&'static self) -> Isolation {
        // The settings a start would take now, under the configuration in
        // force: not the running shared pool's (`settings`), which keeps
        // its kind, order, policy and executor until it restarts.
        let settings = crate::config::effective(&self.spec);
        let pool: &'static Pool = Box::leak(Box::new(Pool::isolated_instance(
            self.name(),
            &settings.clamped(),
        )));
        let (group, scope) = (key(self), Scope::current());
        entries().push(Entry { group, scope, pool });
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        Isolation { group, scope, pool }
    }
}
