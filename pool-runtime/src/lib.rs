//! The runtime of [`pooled`](https://docs.rs/pooled): task pools that limit how
//! much async and blocking work runs at once, so the servers behind them are
//! not overrun.
//!
//! Six pools, as in the Python seed `aio_parallel_tools`: a fixed or
//! autoscaled slot count ([`Kind`]) times FIFO, LIFO or priority order
//! ([`Order`]), all on one admission core. A pool is an admission controller:
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
//! admission timeouts on tokio's timer inside a runtime, and [`Pool::spawn`].
//! Without it the crate needs only `std`.
//!
//! The admission core is documented in the source (`core.rs`): the packed
//! admission word, the intrusive wait queue, the hand-off rule, and the
//! lock/wake discipline.

#![warn(missing_debug_implementations, rust_2018_idioms)]

mod acquire;
mod adaptive;
mod autoscale;
mod blocking;
mod builder;
pub mod ceiling;
pub mod clock;
pub mod config;
mod core;
mod group;
mod lend;
mod nested;
mod order;
mod park;
mod pool;
mod queue;
mod registry;
mod rejected;
mod settings;
mod shutdown;
#[cfg(feature = "tokio")]
mod spawn;
mod state;
mod stats;
mod submit;
mod sync;
mod timer;
mod waiter;
mod wake_list;

pub use crate::core::ScalePolicy;
pub use adaptive::{AdaptiveSettings, Verdict};
pub use autoscale::AutoscaleTiming;
pub use blocking::{BlockingExecutor, BlockingJob, DefaultExecutor};
pub use builder::{
    BuildError, PoolBuilder, ADAPTIVE_START, DEFAULT_AUTOSCALE_HEADROOM, DEFAULT_SIZE,
};
pub use group::{Group, GroupSpec};
pub use order::{Kind, Order, UnknownChoice};
pub use pool::Pool;
#[doc(hidden)]
pub use registry::__linkme;
pub use registry::{groups, registered_groups, GroupInfo, GROUPS};
pub use rejected::Rejected;
pub use settings::GroupSettings;
pub use shutdown::ShutdownTimedOut;
#[cfg(feature = "tokio")]
pub use spawn::SpawnHandle;
pub use state::MAX_SLOTS;
pub use stats::Stats;
pub use submit::{Submit, SubmitWait};
