//! The two tokio runtimes every timed case runs on.

use std::future::Future;
use tokio::runtime::{Builder, Runtime};

/// A tokio runtime flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `Builder::new_current_thread()`.
    CurrentThread,
    /// `Builder::new_multi_thread().worker_threads(2)`.
    MultiThread,
}

impl Flavor {
    /// Both flavours, in table order.
    pub const ALL: [Flavor; 2] = [Flavor::CurrentThread, Flavor::MultiThread];

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread => "multi_thread(2)",
        }
    }

    /// A fresh runtime of this flavour.
    pub fn runtime(self) -> Runtime {
        match self {
            Flavor::CurrentThread => Builder::new_current_thread().build(),
            Flavor::MultiThread => Builder::new_multi_thread().worker_threads(2).build(),
        }
        .expect("a tokio runtime builds")
    }
}

/// Runs `future` as a spawned task (so it is scheduled, budgeted and, on the
/// multi-thread runtime, run by a worker like real work) and returns its output.
///
/// Never inlined: `bench/callgrind.sh` counts case 2's instructions inside
/// this function (`--toggle-collect='*runtimes::run*'`).
#[inline(never)]
pub fn run<F>(runtime: &Runtime, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime
        .block_on(runtime.spawn(future))
        .expect("a benchmark task panicked")
}
