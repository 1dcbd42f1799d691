//! Lazily started global pools, the targets of `#[pooled]`.
//!
//! # Lock order
//!
//! A group, the configuration and the pools share one global order, from
//! outermost to innermost; a lock is only ever taken while holding locks
//! above it, so no two threads can wait on each other:
//!
//! 0. the loading lock (`config`), held by a load from when it reads the
//!    layers in force until it has moved every running pool to the new
//!    ones (loads are applied one at a time), and by the process's first
//!    read of its environment until it has stored the layers, set their
//!    ceiling and given its warnings;
//! 1. the configuration lock (`config`), held only while the layers are read
//!    or replaced: never while the user's code runs (a pool's wakers and
//!    reports, a logger, a `metrics` recorder);
//! 2. a group's pool initialisation (the `OnceLock` behind [`Group::pool`]),
//!    entered only to publish a pool already built: the first use builds it
//!    holding no lock (building it registers its `metrics` handles), and a
//!    load that stored other layers between the first use's reading of its
//!    settings and the publishing is caught up with after it
//!    (`config::settle`);
//! 3. leaves, under which no other lock is taken: a group's record of the
//!    settings applied to its pool (`applied`), a pool's admission lock, and
//!    the ceiling pool's.
//!
//! Loads and reloads never wait on a group's initialisation (they only look
//! whether a pool has started), and [`Group::settings`] reads its `applied`
//! record and releases it before it takes the configuration lock.

pub(crate) mod call;
pub mod ceiling;
#[cfg(feature = "test-util")]
pub(crate) mod isolation;
mod reconfigure;
pub(crate) mod registry;
pub(crate) mod settings;

use crate::admission::core::Mode;
use crate::call::permit::{self, OwnedPermit, Permit};
use crate::call::Form;
use crate::group::settings::GroupSettings;
use crate::pool::order::{ExecutorKind, Kind, Order};
use crate::pool::rejected::Rejected;
use crate::pool::stats::Stats;
use crate::pool::Pool;
use crate::scale::ScalePolicy;
use call::{GroupAcquiring, GroupAcquiringOwned, GroupSubmit, GroupSubmitWait};
use ceiling::Ceilinged;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::Duration;

/// A [`Group`]'s declaration: its name and the settings it declares (what
/// `#[pooled(...)]` says). Application-wide configuration is laid over them.
///
/// Built with `const` setters (those of [`GroupSettings`]), so that a group
/// can live in a `static`:
///
/// ```
/// use pool_runtime::{Group, GroupSpec, Kind};
///
/// static SEARCH: Group = Group::new(GroupSpec::new("search").kind(Kind::Autoscale).max(12));
/// assert_eq!(SEARCH.spec().settings().max, Some(12));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupSpec {
    name: &'static str,
    declared_at: &'static str,
    settings: GroupSettings,
}

impl GroupSpec {
    /// A group named `name` with every setting at its default (a fixed FIFO
    /// pool of 3 slots).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSpec, Kind, Order};
    ///
    /// const SPEC: GroupSpec = GroupSpec::new("search");
    /// assert_eq!(SPEC.name(), "search");
    /// let settings = SPEC.settings();
    /// assert_eq!((settings.kind, settings.order, settings.size), (Kind::Fixed, Order::Fifo, None));
    /// assert_eq!(settings.starting_size(), 3, "a fixed FIFO pool of 3 slots");
    /// ```
    pub const fn new(name: &'static str) -> GroupSpec {
        GroupSpec {
            name,
            declared_at: "",
            settings: GroupSettings::DEFAULT,
        }
    }

    /// Where the group is declared (`file:line:column`; `#[pooled]` fills it
    /// in), to tell apart two groups given one name in errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::GroupSpec;
    ///
    /// let spec = GroupSpec::new("search").declared_at("src/search.rs:12:1");
    /// assert_eq!(spec.place(), "src/search.rs:12:1");
    /// ```
    pub const fn declared_at(mut self, place: &'static str) -> Self {
        self.declared_at = place;
        self
    }

    /// Every setting at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, GroupSpec, Order};
    ///
    /// const SHARED: GroupSettings = GroupSettings::DEFAULT.order(Order::Lifo).size(4);
    /// let spec = GroupSpec::new("a").max_waiting(10).with_settings(SHARED);
    /// assert_eq!(spec.settings(), &SHARED, "every setting at once, replacing `max_waiting`");
    /// ```
    pub const fn with_settings(mut self, settings: GroupSettings) -> Self {
        self.settings = settings;
        self
    }

    delegate_setters!(const);

    /// The group's stable name, used by configuration, stats and logs.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::GroupSpec;
    ///
    /// assert_eq!(GroupSpec::new("mailer").name(), "mailer");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Where the group is declared (empty if unknown).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::GroupSpec;
    ///
    /// assert_eq!(GroupSpec::new("mailer").place(), "", "unknown unless declared");
    /// assert_eq!(GroupSpec::new("mailer").declared_at("lib.rs:1:1").place(), "lib.rs:1:1");
    /// ```
    pub const fn place(&self) -> &'static str {
        self.declared_at
    }

    /// The declared settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::GroupSpec;
    ///
    /// let spec = GroupSpec::new("mailer").size(2).max_waiting(50);
    /// assert_eq!((spec.settings().size, spec.settings().max_waiting), (Some(2), Some(50)));
    /// ```
    pub const fn settings(&self) -> &GroupSettings {
        &self.settings
    }
}

/// A named, lazily started global pool: what `#[pooled]` functions submit to,
/// and the handle it generates for each function or declared group.
///
/// Const-constructible, so it lives in a `static`; its pool is built on first
/// use. Every method that reaches the pool is a use, reading ones included
/// ([`stats`](Group::stats), [`size`](Group::size),
/// [`is_paused`](Group::is_paused)): the pool is built with the
/// configuration loaded by then, and what a later load says of its kind,
/// order, policy or executor waits for a next start. To look without
/// starting it, use [`is_started`](Group::is_started),
/// [`settings`](Group::settings) or [`groups`](crate::groups).
///
/// Because a pool is an admission controller rather than a set of spawned
/// workers, a global group is not bound to the runtime that first used it: it
/// serves every tokio runtime, `block_on`, and plain threads alike.
///
/// # Examples
///
/// ```
/// use pool_runtime::{Group, GroupSpec, Order};
///
/// static DB: Group = Group::new(GroupSpec::new("db").size(2).order(Order::Lifo));
///
/// assert_eq!(DB.size(), 2);
/// assert_eq!(DB.scale(3), 5);
/// DB.pause();
/// assert!(DB.is_paused());
/// DB.resume();
/// assert_eq!(DB.run(|| 6 * 7), Ok(42));
/// ```
pub struct Group {
    spec: GroupSpec,
    pool: OnceLock<Pool>,
    /// The settings the pool was built with or last reconfigured to.
    applied: Mutex<Option<GroupSettings>>,
    /// The group's fleet, set up at first use (`None`: no fleet limit).
    #[cfg(feature = "redis")]
    fleet: OnceLock<Option<crate::fleet::Fleet>>,
}

impl Group {
    /// A group that builds its pool from `spec` on first use.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(2));
    /// assert!(!MAILER.is_started(), "built on first use");
    /// assert_eq!(MAILER.run(|| "sent"), Ok("sent"));
    /// assert!(MAILER.is_started());
    /// ```
    pub const fn new(spec: GroupSpec) -> Group {
        Group {
            spec,
            pool: OnceLock::new(),
            applied: Mutex::new(None),
            #[cfg(feature = "redis")]
            fleet: OnceLock::new(),
        }
    }

    /// The group's stable name.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// assert_eq!(MAILER.name(), "mailer");
    /// ```
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// The compile-time settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(2));
    /// assert_eq!(MAILER.spec(), &GroupSpec::new("mailer").size(2));
    /// ```
    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }

    /// The group's pool, built on first use with its effective settings (the
    /// spec under application-wide configuration, see `config`).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(2));
    /// let pool = MAILER.pool();
    /// assert_eq!((pool.name(), pool.size()), (Some("mailer"), 2));
    /// assert!(std::ptr::eq(pool, MAILER.pool()), "built once");
    /// ```
    #[inline]
    pub fn pool(&self) -> &Pool {
        #[cfg(feature = "test-util")]
        if let Some(isolated) = isolation::lookup(self) {
            return isolated;
        }
        if let Some(pool) = self.pool.get() {
            return pool;
        }
        self.start()
    }

    /// The first use: builds the pool with the settings in force, holding
    /// no lock (building it registers its `metrics` handles: a recorder is
    /// the user's code, and may read settings or call this very group), then
    /// publishes it — unless another first use, on another thread or from
    /// that code, published one first: that one is the group's. It publishes
    /// only if the settings it was built with are still in force: a load
    /// that stored others meanwhile found the group not started, and
    /// reported its settings to apply at first use (kind and order too, which
    /// a running pool keeps), so the pool is built again from them. (Loads
    /// that leave the group's settings as they were do not: a file saved
    /// over and over must not keep a slow first use from ending.)
    #[cold]
    fn start(&self) -> &Pool {
        loop {
            let (settings, layers) = crate::config::effective_in(&self.spec);
            let mut built = Some(Pool::from_settings(self.spec.name, &settings.clamped()));
            let mut published = None;
            crate::config::publish_if_current(&self.spec, &settings, &layers, || {
                published = Some(self.pool.get_or_init(|| {
                    *self.applied() = Some(settings);
                    built.take().expect("built above")
                }));
            });
            // A pool not published is dropped here, without the lock.
            drop(built);
            if let Some(pool) = published {
                return pool;
            }
        }
    }

    /// The pool, if the group has started.
    pub(crate) fn started_pool(&self) -> Option<&Pool> {
        self.pool.get()
    }

    /// The settings in force: those applied to the running pool, or those it
    /// would start with.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(2));
    /// assert_eq!(MAILER.settings().size, Some(2));
    /// assert!(!MAILER.is_started(), "reading the settings does not start the pool");
    /// ```
    pub fn settings(&self) -> GroupSettings {
        // `applied` is a leaf lock (see the module docs): released here,
        // before `effective` takes the configuration lock.
        let applied = *self.applied();
        match applied {
            Some(settings) if self.is_started() => settings,
            _ => crate::config::effective(&self.spec),
        }
    }

    /// The settings applied to the running pool. A leaf lock: take no other
    /// lock while holding it (see the module docs).
    fn applied(&self) -> std::sync::MutexGuard<'_, Option<GroupSettings>> {
        self.applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the pool has been started (first use happened).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// assert!(!MAILER.is_started());
    /// assert_eq!(MAILER.size(), 3, "reading the size is a use");
    /// assert!(MAILER.is_started());
    /// ```
    pub fn is_started(&self) -> bool {
        self.started_pool().is_some()
    }

    /// See [`Pool::scale`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(2));
    /// assert_eq!(MAILER.scale(3), 5);
    /// assert_eq!(MAILER.scale(-10), 0);
    /// ```
    pub fn scale(&self, delta: isize) -> usize {
        self.pool().scale(delta)
    }

    /// See [`Pool::resize`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(2));
    /// assert_eq!(MAILER.resize(6), 6);
    /// assert_eq!(MAILER.pool().size(), 6);
    /// ```
    pub fn resize(&self, size: usize) -> usize {
        self.pool().resize(size)
    }

    /// See [`Pool::pause`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Rejected};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// MAILER.pause();
    /// assert_eq!(MAILER.run(|| ()), Err(Rejected::Paused));
    /// ```
    pub fn pause(&self) {
        self.pool().pause();
    }

    /// See [`Pool::resume`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Rejected};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// MAILER.pause();
    /// assert_eq!(MAILER.run(|| ()), Err(Rejected::Paused));
    /// MAILER.resume();
    /// assert_eq!(MAILER.run(|| ()), Ok(()));
    /// ```
    pub fn resume(&self) {
        self.pool().resume();
    }

    /// See [`Pool::is_paused`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// assert!(!MAILER.is_paused());
    /// MAILER.pause();
    /// assert!(MAILER.is_paused());
    /// ```
    pub fn is_paused(&self) -> bool {
        self.pool().is_paused()
    }

    /// See [`Pool::size`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(4));
    /// assert_eq!(MAILER.size(), 4);
    /// ```
    pub fn size(&self) -> usize {
        self.pool().size()
    }

    /// See [`Pool::stats`]. Under an application-wide ceiling, a call of the
    /// group waiting for a ceiling slot is not yet the group's: it is in
    /// [`ceiling::stats`](crate::ceiling::stats)`().waiting`, and in this
    /// group's `submitted` and `waiting` only once it has its ceiling slot
    /// (see [`ceiling`](crate::ceiling)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Rejected};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// assert_eq!(MAILER.run(|| ()), Ok(()));
    /// MAILER.pause();
    /// assert_eq!(MAILER.run(|| ()), Err(Rejected::Paused));
    /// let stats = MAILER.stats();
    /// assert_eq!((stats.completed, stats.rejected_for(Rejected::Paused)), (1, 1));
    /// ```
    pub fn stats(&self) -> Stats {
        self.pool().stats()
    }

    /// The group's fleet (feature `redis`): `Some` if its settings, at its
    /// first use, set a fleet limit that passes its check. Every call path of
    /// the group holds a lease from it while it runs (`submit`, `submit_wait`,
    /// `submit_judged`, `run`, `run_weighted`, `run_wait`, `submit_blocking`,
    /// `submit_blocking_wait`, and the permits of `acquire`, `acquire_owned`,
    /// `try_acquire`, `try_acquire_owned`); other code can take leases from
    /// it too.
    ///
    /// Settings that set a fleet limit but fail the check can only come from
    /// a hand-written declaration (`#[pooled]` refuses them at compile time,
    /// a configuration load with its error): the group then has no fleet and
    /// runs under its local limit alone, and says so once, at that first
    /// use, with a warning through `log` (target `pooled::fleet`) and
    /// `tracing` (`fleet settings refused`). To get the error as a value,
    /// check `GROUP.settings().check()` at start-up (see
    /// [`fleet`](crate::fleet#settings-that-fail-their-check)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// assert!(MAILER.fleet().is_none(), "no fleet limit set");
    /// ```
    #[cfg(feature = "redis")]
    pub fn fleet(&self) -> Option<&crate::fleet::Fleet> {
        if let Some(fleet) = self.fleet.get() {
            return fleet.as_ref();
        }
        // Set up holding no lock, as the pool is (`start`): registering the
        // fleet's `metrics` handles and the refusal's warning are the user's
        // code, which may call this group. A first use that loses the race
        // to publish (another thread's, or that code's own) drops its fleet
        // unused; only the published one's refusal is reported. The fleet is
        // the group's, made with the settings its shared pool started with:
        // a first use under test isolation, where that pool has not started,
        // publishes nothing for a group without a fleet limit (a load may
        // give it one before the group starts) and starts the shared pool
        // for one with a limit (a fleet a later load reported as taking
        // effect at first use would not be the one in use).
        if self.pool.get().is_none() {
            self.settings().fleet.limit?;
            self.start();
        }
        let settings = self.settings();
        let (fleet, refused) = match settings.fleet.limit {
            None => (None, None),
            Some(_) => match crate::fleet::Fleet::connect(self.spec.name, &settings.fleet) {
                Ok(fleet) => (Some(fleet), None),
                Err(err) => (None, Some(err)),
            },
        };
        let mut ours = Some(fleet);
        let published = self.fleet.get_or_init(|| ours.take().expect("set above"));
        if let (None, Some(err)) = (ours, refused) {
            crate::fleet::report::refused(self.spec.name, &err);
        }
        published.as_ref()
    }

    /// This process's view of the group's fleet, if it has one (see
    /// [`fleet`](Group::fleet)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// assert!(MAILER.fleet_stats().is_none(), "no fleet limit set");
    /// ```
    #[cfg(feature = "redis")]
    pub fn fleet_stats(&self) -> Option<crate::fleet::FleetStats> {
        self.fleet().map(crate::fleet::Fleet::stats)
    }

    /// See [`Pool::submit_weighted`]; under an application-wide ceiling
    /// the call also holds a ceiling slot while it runs, and in a group with
    /// a fleet limit a fleet lease, taken once it has its local slot (see
    /// [`fleet`](crate::fleet)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Rejected};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer"));
    /// # futures::executor::block_on(async {
    /// let recipient = String::from("ops@example.com"); // borrowed, not moved
    /// assert_eq!(MAILER.submit(0, async { recipient.len() }).await, Ok(15));
    /// MAILER.pause();
    /// assert_eq!(MAILER.submit(0, async { recipient.len() }).await, Err(Rejected::Paused));
    /// # });
    /// ```
    #[inline]
    pub fn submit<F: Future>(&self, weight: i64, work: F) -> GroupSubmit<'_, F> {
        // The pool first: a first use reads the configuration, which may set
        // the ceiling this call is then gated by.
        let pool = self.pool();
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            let work = crate::fleet::Fleeted::new(fleet, work, false);
            return GroupSubmit::fleet(Ceilinged::rejecting(pool, weight, || {
                pool.submit_weighted(weight, work)
            }));
        }
        GroupSubmit::local(Ceilinged::rejecting(pool, weight, || {
            pool.submit_weighted(weight, work)
        }))
    }

    /// See [`Pool::submit_judged`]: the call's output is judged for an
    /// adaptive group.
    ///
    /// In a group with a fleet limit the work runs under a fleet lease, as
    /// with [`submit`](Group::submit); a call that ends without running its
    /// work to the end under its lease (the lease was lost, or Redis could
    /// not be reached) is judged [`Verdict::Ignore`](crate::Verdict::Ignore).
    /// The wait for the lease is part of the call's latency sample: a fleet
    /// at its limit looks like a slower server to an adaptive group.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Verdict};
    ///
    /// static API: Group = Group::new(GroupSpec::new("api").size(2));
    /// # futures::executor::block_on(async {
    /// let judge = |status: &u16| if *status == 503 { Verdict::Overload } else { Verdict::Success };
    /// assert_eq!(API.submit_judged(0, async { 200 }, judge).await, Ok(200));
    /// assert_eq!(API.size(), 2, "a group that is not adaptive ignores the verdict");
    /// # });
    /// ```
    pub fn submit_judged<F: Future, J: FnOnce(&F::Output) -> crate::Verdict>(
        &self,
        weight: i64,
        work: F,
        judge: J,
    ) -> Ceilinged<impl Future<Output = Result<F::Output, Rejected>> + use<'_, F, J>> {
        let pool = self.pool();
        #[cfg(feature = "redis")]
        let fleet = self.fleet();
        Ceilinged::rejecting(pool, weight, move || async move {
            #[cfg(feature = "redis")]
            if let Some(fleet) = fleet {
                let work = crate::fleet::Fleeted::new(fleet, work, false);
                let judge = move |out: &Result<F::Output, Rejected>| match out {
                    Ok(out) => judge(out),
                    Err(_) => crate::Verdict::Ignore,
                };
                return pool
                    .submit_judged(weight, work, judge)
                    .await
                    .and_then(|out| out);
            }
            pool.submit_judged(weight, work, judge).await
        })
    }

    /// See [`Pool::acquire_weighted`]; under an application-wide ceiling
    /// the permit holds a ceiling slot too. The permit is `'static`, as the
    /// group is.
    ///
    /// In a group with a fleet limit (feature `redis`) the permit also holds
    /// a fleet lease (`Permit::lease`), waited for once it has its local
    /// slot, as a call's (see [`fleet`](crate::fleet)), and released with
    /// it when the permit is dropped.
    ///
    /// Whether the permit takes a ceiling slot or a fleet lease is decided
    /// when this is called (as for [`submit`](Group::submit): a ceiling set
    /// later gates the calls made after it). Without either, the future is
    /// the pool's own ([`Pool::acquire_weighted`]), with nothing allocated;
    /// with one, its wait is boxed (one allocation per call, as a gated
    /// `submit`'s ceiling slot is).
    ///
    /// # Errors
    ///
    /// As [`Pool::submit`]; in a fleet group also
    /// [`Rejected::FleetUnavailable`] (Redis unreachable under the `reject`
    /// policy).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Permit};
    ///
    /// static DB: Group = Group::new(GroupSpec::new("db").size(1));
    /// # futures::executor::block_on(async {
    /// let permit: Permit<'static> = DB.acquire(0).await?;
    /// assert_eq!(DB.stats().running, 1);
    /// drop(permit);
    /// assert_eq!(DB.stats().completed, 1);
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// # }).unwrap();
    /// ```
    #[inline]
    pub fn acquire(&'static self, weight: i64) -> GroupAcquiring {
        match self.plain_pool() {
            Some(pool) => GroupAcquiring::plain(pool.acquire_weighted(weight)),
            None => GroupAcquiring::gated(Box::pin(self.acquire_gated(weight))),
        }
    }

    /// [`acquire`](Group::acquire) under a ceiling or a fleet limit.
    async fn acquire_gated(&'static self, weight: i64) -> Result<Permit<'static>, Rejected> {
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut permit = permit::acquire(self.pool().core(), weight, true).await?;
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            // Dropped while it waits for its lease, the permit counts as
            // cancelled (its caller gave up), not as completed.
            permit.waiting_for_lease(true);
            let leased = crate::fleet::lease(fleet, false).await;
            permit.waiting_for_lease(false);
            return Ok(permit.leased(leased?));
        }
        Ok(permit)
    }

    /// See [`Pool::acquire_owned`] (and [`acquire`](Group::acquire) for the
    /// ceiling and the fleet lease).
    ///
    /// # Errors
    ///
    /// As [`acquire`](Group::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static DB: Group = Group::new(GroupSpec::new("db").size(1));
    /// # futures::executor::block_on(async {
    /// let permit = DB.acquire_owned(0).await?;
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(DB.stats().completed, 1);
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// # }).unwrap();
    /// ```
    #[inline]
    pub fn acquire_owned(&self, weight: i64) -> GroupAcquiringOwned<'_> {
        match self.plain_pool() {
            Some(pool) => GroupAcquiringOwned::plain(pool.acquire_owned(weight)),
            None => GroupAcquiringOwned::gated(Box::pin(self.acquire_owned_gated(weight))),
        }
    }

    /// [`acquire_owned`](Group::acquire_owned) under a ceiling or a fleet
    /// limit.
    async fn acquire_owned_gated(&self, weight: i64) -> Result<OwnedPermit, Rejected> {
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut permit = permit::acquire_owned(self.pool().core_arc(), weight, true).await?;
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            // Dropped while it waits for its lease, the permit counts as
            // cancelled (its caller gave up), not as completed.
            permit.waiting_for_lease(true);
            let leased = crate::fleet::lease(fleet, false).await;
            permit.waiting_for_lease(false);
            return Ok(permit.leased(leased?));
        }
        Ok(permit)
    }

    /// See [`Pool::try_acquire`] (and [`acquire`](Group::acquire) for the
    /// ceiling, whose slot must be free now too).
    ///
    /// In a group with a fleet limit (feature `redis`) the permit also holds
    /// a fleet lease, taken only if one is free now and no call of the fleet
    /// waits for one (so it never jumps the fleet's queue). It never waits
    /// for a lease, but it does ask Redis: one round trip, for which the
    /// calling thread waits (bounded by the fleet's patience with Redis,
    /// `fleet_lease / 4` and at most 1 s, tried twice).
    ///
    /// # Errors
    ///
    /// As [`Pool::try_acquire`]; in a fleet group also [`Rejected::Full`]
    /// when no lease is free now (counted in
    #[cfg_attr(
        feature = "redis",
        doc = " [`FleetStats::busy`](crate::fleet::FleetStats::busy)), and, if Redis"
    )]
    #[cfg_attr(not(feature = "redis"), doc = " `FleetStats::busy`), and, if Redis")]
    /// cannot be reached, [`Rejected::FleetUnavailable`] under the `reject`
    /// and `wait` policies (a `try_acquire` cannot wait for Redis); under
    /// `local` the permit holds its local slot alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Rejected};
    ///
    /// static DB: Group = Group::new(GroupSpec::new("db").size(1));
    /// let permit = DB.try_acquire(0)?;
    /// assert_eq!(DB.try_acquire(0).err(), Some(Rejected::Full));
    /// drop(permit);
    /// assert!(DB.try_acquire(0).is_ok());
    /// # Ok::<(), Rejected>(())
    /// ```
    pub fn try_acquire(&'static self, weight: i64) -> Result<Permit<'static>, Rejected> {
        let permit = permit::try_acquire(self.pool().core(), weight, true)?;
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            return Ok(permit.leased(crate::fleet::try_lease(fleet)?));
        }
        Ok(permit)
    }

    /// [`Pool::acquire_owned_now`] on the group's pool, when a permit of the
    /// group is only that: no ceiling is set and no fleet limit applies.
    #[cfg(feature = "tower")]
    pub(crate) fn acquire_owned_now(&self, weight: i64) -> Option<OwnedPermit> {
        self.plain_pool()?.acquire_owned_now(weight)
    }

    /// The group's pool, when a permit of the group is only a permit of its
    /// pool: no ceiling is set now and no fleet limit applies.
    #[inline]
    fn plain_pool(&self) -> Option<&Pool> {
        // The pool first: its first use may set the ceiling (see `submit`).
        let pool = self.pool();
        if ceiling::core_if_enabled().is_some() {
            return None;
        }
        #[cfg(feature = "redis")]
        if self.fleet().is_some() {
            return None;
        }
        Some(pool)
    }

    /// See [`Pool::try_acquire_owned`] (and [`try_acquire`](Group::try_acquire)
    /// for the ceiling and the fleet lease).
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Group::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Rejected};
    ///
    /// static DB: Group = Group::new(GroupSpec::new("db").size(1));
    /// let permit = DB.try_acquire_owned(0)?;
    /// assert_eq!(DB.try_acquire_owned(0).err(), Some(Rejected::Full));
    /// drop(permit);
    /// # Ok::<(), Rejected>(())
    /// ```
    pub fn try_acquire_owned(&self, weight: i64) -> Result<OwnedPermit, Rejected> {
        let permit = permit::try_acquire_owned(self.pool().core_arc(), weight, true)?;
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            return Ok(permit.leased(crate::fleet::try_lease(fleet)?));
        }
        Ok(permit)
    }

    /// See [`Pool::run`].
    ///
    /// # Errors
    ///
    /// As [`Pool::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Rejected};
    ///
    /// static DB: Group = Group::new(GroupSpec::new("db").size(1));
    /// assert_eq!(DB.run(|| 6 * 7), Ok(42));
    /// DB.pool().close();
    /// assert_eq!(DB.run(|| 6 * 7), Err(Rejected::Closed));
    /// ```
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T, Rejected> {
        self.run_weighted(0, f)
    }

    /// See [`Pool::run_weighted`].
    ///
    /// # Errors
    ///
    /// As [`Pool::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Order, Rejected};
    ///
    /// static DB: Group = Group::new(GroupSpec::new("db").order(Order::Priority));
    /// assert_eq!(DB.run_weighted(-1, || "urgent"), Ok("urgent"));
    /// DB.pause();
    /// assert_eq!(DB.run_weighted(-1, || "urgent"), Err(Rejected::Paused));
    /// ```
    pub fn run_weighted<T>(&self, weight: i64, f: impl FnOnce() -> T) -> Result<T, Rejected> {
        // The pool first: its first use may set the ceiling (see `submit`).
        let pool = self.pool();
        if let Some(rejected) = ceiling::turned_away_first(pool.core(), Form::Run, weight) {
            return Err(rejected);
        }
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            let f = move || crate::fleet::run(fleet, false, f);
            return ceiling::run_for(pool.core(), weight, || {
                pool.run_call(weight, Mode::Reject, f)
            })
            .and_then(|out| out)
            .and_then(|out| out);
        }
        ceiling::run_for(pool.core(), weight, || {
            pool.run_call(weight, Mode::Reject, f)
        })
        .and_then(|out| out)
    }

    /// See [`Pool::submit_blocking_weighted`].
    ///
    /// # Errors
    ///
    /// As [`Pool::submit_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec, Rejected};
    ///
    /// static FILES: Group = Group::new(GroupSpec::new("files").size(2));
    /// # futures::executor::block_on(async {
    /// assert_eq!(FILES.submit_blocking(0, || 6 * 7).await, Ok(42));
    /// FILES.pause();
    /// assert_eq!(FILES.submit_blocking(0, || 6 * 7).await, Err(Rejected::Paused));
    /// # });
    /// ```
    pub async fn submit_blocking<T, F>(&self, weight: i64, f: F) -> Result<T, Rejected>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The pool first: its first use may set the ceiling (see `submit`).
        let pool = self.pool();
        let core = pool.core();
        if let Some(rejected) = ceiling::turned_away_first(core, Form::Blocking, weight) {
            // Answered within the task's budget (see `Rejected`).
            crate::call::within_budget().await;
            return Err(rejected);
        }
        // The ceiling slot goes to the job once the group admits the call.
        // Turned away by the group, the ceiling's call ended with that answer
        // (completed, as a `submit`'s does); dropped while it waits for the
        // group, or unrun by the executor, it is cancelled.
        //
        // Under a ceiling the closure is kept here, declared before the
        // ceiling slot: a call dropped, turned away or left unrun gives the
        // slot back before the closure (and what it captured) is dropped, as
        // the closure's `Drop` is the user's code and may call a group.
        let kept: Option<Kept<F>>;
        let mut ceiling = ceiling::acquire_owned_for(core, weight).await?;
        let job = match ceiling {
            Some(_) => {
                let shared = Kept::new(f);
                kept = Some(shared.clone());
                Job::Kept(shared)
            }
            None => {
                kept = None;
                Job::Own(f)
            }
        };
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            let call = pool
                .blocking_call_then(
                    weight,
                    Mode::Reject,
                    || {
                        let ceiling = ceiling.take();
                        async move { Ok((crate::fleet::lease(fleet, false).await?, ceiling)) }
                    },
                    move |(lease, ceiling)| {
                        crate::fleet::run_leased(lease, || {
                            ceiling::run_owned(ceiling, move || job.call())
                        })
                    },
                )
                .await;
            let answer = answered(call, ceiling);
            drop(kept);
            return answer;
        }
        let call = pool
            .blocking_call_then(
                weight,
                Mode::Reject,
                || std::future::ready(Ok(ceiling.take())),
                move |ceiling| ceiling::run_owned(ceiling, move || job.call()),
            )
            .await;
        let answer = answered(call, ceiling);
        drop(kept);
        answer
    }

    /// The never-rejecting form of [`submit_blocking`](Group::submit_blocking).
    ///
    /// # Panics
    ///
    /// A panic of `f` is re-raised. If the blocking executor drops the job
    /// without running it (it is shutting down), there is no result to return
    /// and no error to report it with: that panics too.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static FILES: Group = Group::new(GroupSpec::new("files").size(2));
    /// # futures::executor::block_on(async {
    /// FILES.pool().close(); // a never-rejecting call is still admitted
    /// assert_eq!(FILES.submit_blocking_wait(0, || 6 * 7).await, 42);
    /// # });
    /// ```
    pub async fn submit_blocking_wait<T, F>(&self, weight: i64, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The pool first: its first use may set the ceiling (see `submit`).
        let pool = self.pool();
        let ceiling = ceiling::acquire_owned(pool.core(), weight).await;
        #[cfg(feature = "redis")]
        let call = match self.fleet() {
            Some(fleet) => {
                pool.blocking_call_then(
                    weight,
                    Mode::Wait,
                    || crate::fleet::lease(fleet, true),
                    move |lease| crate::fleet::run_leased(lease, || ceiling::run_owned(ceiling, f)),
                )
                .await
            }
            None => {
                pool.blocking_call(weight, Mode::Wait, move || ceiling::run_owned(ceiling, f))
                    .await
            }
        };
        #[cfg(not(feature = "redis"))]
        let call = pool
            .blocking_call(weight, Mode::Wait, move || ceiling::run_owned(ceiling, f))
            .await;
        match call {
            Ok(out) => out,
            Err(_) => {
                panic!("the blocking executor dropped a never-rejecting job without running it")
            }
        }
    }

    /// A call that is never turned away: it waits through a pause (until
    /// `resume`), past the waiting bound and the admission timeout, and even
    /// through closing the group's pool (through [`Group::pool`]), which still
    /// admits it in order: it has no way to report a rejection.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(1));
    /// # futures::executor::block_on(async {
    /// MAILER.pool().close();
    /// assert_eq!(MAILER.submit_wait(0, async { "sent" }).await, "sent", "closed, yet admitted");
    ///
    /// MAILER.pause();
    /// let mut waiting = Box::pin(MAILER.submit_wait(0, async { "sent" }));
    /// assert!(futures::poll!(&mut waiting).is_pending(), "waits through a pause");
    /// MAILER.resume();
    /// assert_eq!(waiting.await, "sent");
    /// # });
    /// ```
    pub fn submit_wait<F: Future>(&self, weight: i64, work: F) -> GroupSubmitWait<'_, F> {
        // The pool first: its first use may set the ceiling (see `submit`).
        let pool = self.pool();
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            let work = crate::fleet::Fleeted::new(fleet, work, true);
            return GroupSubmitWait::fleet(Ceilinged::new(pool, weight, || {
                pool.submit_wait(weight, work)
            }));
        }
        GroupSubmitWait::local(Ceilinged::new(pool, weight, || {
            pool.submit_wait(weight, work)
        }))
    }

    /// The sync counterpart of [`submit_wait`](Group::submit_wait).
    ///
    /// # Panics
    ///
    /// As [`Pool::run`] on a current-thread tokio runtime's thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Group, GroupSpec};
    /// use std::time::Duration;
    ///
    /// static MAILER: Group = Group::new(GroupSpec::new("mailer").size(1));
    /// MAILER.pool().set_max_waiting(Some(0))?;
    /// MAILER.pool().set_admission_timeout(Some(Duration::ZERO));
    /// MAILER.pool().close();
    /// assert_eq!(MAILER.run_wait(0, || "sent"), "sent", "never turned away");
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn run_wait<T>(&self, weight: i64, f: impl FnOnce() -> T) -> T {
        // The pool first: its first use may set the ceiling (see `submit`).
        let pool = self.pool();
        #[cfg(feature = "redis")]
        if let Some(fleet) = self.fleet() {
            let f = move || crate::fleet::run(fleet, true, f);
            match ceiling::run(pool.core(), weight, || pool.run_call(weight, Mode::Wait, f)) {
                Ok(Ok(out)) => return out,
                Ok(Err(rejected)) | Err(rejected) => {
                    unreachable!("a never-rejecting call was turned away: {rejected}")
                }
            }
        }
        match ceiling::run(pool.core(), weight, || pool.run_call(weight, Mode::Wait, f)) {
            Ok(out) => out,
            Err(rejected) => unreachable!("a never-rejecting call was turned away: {rejected}"),
        }
    }
}

/// A rejecting blocking call's outcome: if its group turned it away (its
/// ceiling slot never went to a job), that slot ends as an answered call.
/// A blocking call's closure, shared by the calling future and its job
/// (see [`Group::submit_blocking`]): whichever holds it last drops it,
/// unless the job took it to run.
struct Kept<F>(Arc<Mutex<Option<F>>>);

impl<F> Kept<F> {
    fn new(f: F) -> Self {
        Kept(Arc::new(Mutex::new(Some(f))))
    }

    fn take(&self) -> Option<F> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl<F> Clone for Kept<F> {
    fn clone(&self) -> Self {
        Kept(Arc::clone(&self.0))
    }
}

/// What a group's blocking job runs: its closure, or the kept one.
enum Job<F> {
    Own(F),
    Kept(Kept<F>),
}

impl<F> Job<F> {
    fn call<T>(self) -> T
    where
        F: FnOnce() -> T,
    {
        match self {
            Job::Own(f) => f(),
            Job::Kept(kept) => (kept.take().expect("a job runs once"))(),
        }
    }
}

fn answered<T>(
    call: Result<T, Rejected>,
    ceiling: Option<crate::call::blocking::OwnedSlot>,
) -> Result<T, Rejected> {
    if let (Err(_), Some(mut slot)) = (&call, ceiling) {
        slot.answered();
    }
    call
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("spec", &self.spec)
            .field("started", &self.is_started())
            .finish()
    }
}
