//! The runtime of [`pooled`](https://docs.rs/pooled): task pools that limit how
//! much async and blocking work runs at once, so the servers behind them are
//! not overrun.
//!
//! Six pools: a fixed or autoscaled slot count ([`Kind`]) times FIFO, LIFO
//! or priority order ([`Order`]), all on one admission core. A pool is an admission controller:
//! a call waits in the pool's queue and runs *in the caller's own task* while
//! it holds a slot — no worker tasks, no channels, no boxing, no `'static`
//! bound, and no tie to any runtime.
//!
//! ```
//! use pool_runtime::{Order, Pool, Rejected};
//!
//! # futures::executor::block_on(async {
//! let pool = Pool::builder().order(Order::Priority).size(4).build().unwrap();
//! let urgent = pool.submit_weighted(0, async { "urgent" });
//! let batch = pool.submit_weighted(10, async { "batch" });
//! assert_eq!(futures::join!(urgent, batch), (Ok("urgent"), Ok("batch")));
//!
//! pool.pause();
//! assert_eq!(pool.submit(async {}).await, Err(Rejected::Paused));
//! # });
//! ```
//!
//! Feature `tokio` (default): blocking closures on tokio's blocking pool,
//! `TokioClock` (a pool on it times its admission timeouts and autoscaler
//! on tokio's timer, following tokio's paused test time; other pools use
//! the crate's own timer thread, under any executor or none), and
#![cfg_attr(feature = "tokio", doc = " [`Pool::spawn`].")]
#![cfg_attr(not(feature = "tokio"), doc = " `Pool::spawn`.")]
//! Without it the crate needs only `std`. Feature `tower`: a tower
#![cfg_attr(
    feature = "tower",
    doc = " `Layer`/`Service` over a pool or a group ([`tower`](mod@tower))."
)]
#![cfg_attr(
    not(feature = "tower"),
    doc = " `Layer`/`Service` over a pool or a group (`tower`)."
)]
//!
//! Features `tracing` and `metrics` (off by default): a span per call and
//! events for rejections, limit changes and adaptive windows; counters,
//! gauges and histograms per pool. What each reports, and what it costs, is
//! in the `observe` module (present with either feature).
//!
//! The admission core is documented in the source (`admission/core.rs`): the packed
//! admission word, the intrusive wait queue, the hand-off rule, and the
//! lock/wake discipline.

#![warn(missing_debug_implementations, rust_2018_idioms)]

/// The setters `GroupSpec` and `PoolBuilder` delegate to their
/// [`GroupSettings`]: the one list of them (`delegate_setters!(const)` for
/// `const fn`s). Each setting is documented, with its default, on
/// `GroupSettings`.
macro_rules! delegate_setters {
    (const) => { delegate_setters!(@list [const]); };
    () => { delegate_setters!(@list []); };
    (@list $qualifier:tt) => {
        delegate_setters! {
            @each $qualifier
            kind(Kind),
            order(Order),
            size(usize),
            min(usize),
            max(usize),
            max_waiting(usize),
            admission_timeout(Duration),
            sync_barging(Duration),
            autoscale_interval(Duration),
            autoscale_window(usize),
            scale_policy(ScalePolicy),
            executor(ExecutorKind),
            fleet_limit(usize),
            fleet_url(&'static str),
            fleet_lease(Duration),
            fleet_unreachable(crate::fleet::OnUnreachable)
        }
    };
    (@each [const] $($setter:ident($ty:ty)),*) => {
        $(
            #[doc = concat!("See [`GroupSettings::", stringify!($setter), "`].")]
            pub const fn $setter(mut self, value: $ty) -> Self {
                self.settings = self.settings.$setter(value);
                self
            }
        )*
    };
    (@each [] $($setter:ident($ty:ty)),*) => {
        $(
            #[doc = concat!("See [`GroupSettings::", stringify!($setter), "`].")]
            pub fn $setter(mut self, value: $ty) -> Self {
                self.settings = self.settings.$setter(value);
                self
            }
        )*
    };
}

mod admission;
mod call;
pub mod config;
pub mod fleet;
mod group;
mod integrations;
#[cfg(any(feature = "tracing", feature = "metrics"))]
mod obs;
#[cfg(any(feature = "tracing", feature = "metrics"))]
pub mod observe;
mod pool;
mod scale;
mod sync;
mod time;
mod unwind;

pub use group::ceiling;
#[cfg(feature = "rayon")]
pub use integrations::rayon::RayonExecutor;
#[cfg(feature = "stream")]
pub use integrations::stream::{self, PooledStreamExt};
#[cfg(feature = "tower")]
pub use integrations::tower;

pub use admission::state::MAX_SLOTS;
pub use call::blocking::{BlockingExecutor, BlockingJob, DefaultExecutor};
pub use call::permit::{Acquiring, AcquiringOwned, OwnedPermit, Permit};
#[cfg(feature = "tokio")]
pub use call::spawn::SpawnHandle;
pub use call::submit::{Submit, SubmitWait};
pub use group::call::{GroupAcquiring, GroupAcquiringOwned, GroupSubmit, GroupSubmitWait};
#[cfg(feature = "test-util")]
pub use group::isolation::Isolation;
pub use group::registry::{groups, registered_groups, GroupInfo};
pub use group::settings::GroupSettings;
pub use group::{Group, GroupSpec};
pub use pool::builder::PoolBuilder;
pub use pool::error::BuildError;
pub use pool::order::{ExecutorKind, Kind, Order, UnknownChoice};
pub use pool::rejected::Rejected;
pub use pool::shutdown::ShutdownTimedOut;
pub use pool::stats::Stats;
pub use pool::Pool;
pub use scale::adaptive::{AdaptiveSettings, Verdict};
pub use scale::queue_depth::AutoscaleTiming;
pub use scale::ScalePolicy;
#[cfg(feature = "tokio")]
pub use time::clock::TokioClock;
pub use time::clock::{Clock, ManualClock, SystemClock};

/// What [`register_group!`] expands to names, and only that. Not a public
/// API: names may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::group::registry::GROUPS;
    pub use linkme;
}
