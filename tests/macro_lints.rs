//! Expansions are clean under strict lints: every shape of annotated function
//! compiles under `deny(warnings, unused_qualifications, ...)` here, and under
//! `clippy::pedantic` when `cargo clippy --all-targets -- -D warnings` checks
//! this file (as CI does).

#![deny(
    warnings,
    unused_qualifications,
    missing_docs,
    unreachable_pub,
    unused_results,
    trivial_casts,
    unsafe_op_in_unsafe_fn,
    rust_2018_idioms
)]
#![warn(clippy::pedantic)]

use std::io;
use std::sync::Arc;

/// The API's priority group.
#[pooled::group(
    kind = "autoscale",
    order = "priority",
    max = 8,
    admission_timeout = "2s",
    max_waiting = 64
)]
pub struct Api;

/// Errors of this file's functions.
#[derive(Debug)]
pub enum Error {
    /// The pool turned the call away.
    Busy(pooled::Rejected),
}

impl From<pooled::Rejected> for Error {
    fn from(rejected: pooled::Rejected) -> Self {
        Self::Busy(rejected)
    }
}

/// Fetches a page.
///
/// # Errors
///
/// When the pool turns the call away.
#[pooled::pooled(group = Api)]
pub async fn fetch(url: &str, #[weight] urgency: i64) -> Result<usize, Error> {
    Ok(url.len())
}

/// Whether the server was overloaded.
fn is_overloaded(error: &Error) -> bool {
    matches!(error, Error::Busy(_))
}

/// Calls whose errors the adaptive policy judges.
///
/// # Errors
///
/// When the pool turns the call away.
#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 8, overload = is_overloaded)]
pub async fn judged(id: u32) -> Result<u32, Error> {
    Ok(id)
}

/// An adaptive priority group.
#[pooled::group(kind = "autoscale", order = "priority", policy = "adaptive")]
pub struct Judged;

/// An adaptive group given every parameter (no update from the defaults is
/// left to expand).
#[pooled::group(
    kind = "autoscale",
    policy = "adaptive",
    adaptive_window_samples = 20,
    adaptive_window_time = "100ms",
    adaptive_tolerance = 1.5,
    adaptive_smoothing = 0.2,
    adaptive_baseline_interval = "10s",
    adaptive_backoff = 0.9,
    adaptive_drop_tolerance = 0.1
)]
pub struct EveryParameter;

/// A call into the group with every adaptive parameter.
///
/// # Errors
///
/// When the pool turns the call away.
#[pooled::pooled(group = EveryParameter, overload = is_overloaded)]
pub async fn every_parameter(id: u32) -> Result<u32, Error> {
    Ok(id)
}

/// A weighted, judged call into a declared group.
///
/// # Errors
///
/// When the pool turns the call away.
#[pooled::pooled(group = Judged, overload = is_overloaded)]
pub async fn judged_in_group(#[weight] urgency: i64) -> Result<i64, Error> {
    Ok(urgency)
}

/// Sums numbers, a sync CPU-bound function.
#[must_use]
#[pooled::pooled(size = 2)]
pub fn sum(values: &[u64]) -> u64 {
    values.iter().sum()
}

/// Sums on the blocking executor.
///
/// # Errors
///
/// When the pool turns the call away.
#[pooled::pooled(blocking, order = "priority", weight = -1)]
pub fn sum_blocking(values: Vec<u64>) -> io::Result<u64> {
    Ok(values.iter().sum())
}

/// Reads through a raw pointer.
///
/// # Safety
///
/// `ptr` must be valid for reads.
#[must_use]
#[pooled::pooled]
pub unsafe fn read(ptr: *const u64) -> u64 {
    // SAFETY: the caller promises `ptr` is valid.
    unsafe { *ptr }
}

/// A client with methods of every receiver.
#[derive(Debug, Default)]
pub struct Client {
    hits: u64,
}

impl Client {
    /// By reference.
    #[must_use]
    #[pooled::pooled(size = 4)]
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// By mutable reference.
    #[pooled::pooled(order = "priority")]
    pub async fn hit(&mut self, #[weight] weight: u32) -> u64 {
        self.hits += u64::from(weight);
        self.hits
    }

    /// Through an `Arc`.
    #[pooled::pooled(order = "lifo")]
    pub async fn shared(self: Arc<Self>) -> u64 {
        self.hits
    }

    /// Generic, with a where clause and an `impl Trait` return.
    #[pooled::pooled]
    pub fn labelled<T>(&self, label: T) -> impl std::fmt::Display + use<T>
    where
        T: std::fmt::Display,
    {
        format!("{label}")
    }
}

/// Builds a future; the returned future holds the slot while it runs.
///
/// # Errors
///
/// When the pool turns the call away.
#[pooled::pooled(size = 2, admission_timeout = "1s")]
pub fn returns_future(id: u32) -> impl std::future::Future<Output = Result<u32, Error>> + Send {
    async move { Ok(id) }
}

/// A boxed future borrowing its argument.
#[must_use]
#[pooled::pooled(order = "priority")]
pub fn returns_boxed<'a>(
    text: &'a str,
    #[weight] urgency: u8,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send + 'a>> {
    Box::pin(async move { text.len() + usize::from(urgency) })
}

/// A trait implemented through a declared group.
pub trait Store {
    /// Loads a value.
    fn load(&self, key: &str) -> Option<u64>;
}

impl Store for Client {
    #[pooled::pooled(group = Api)]
    fn load(&self, key: &str) -> Option<u64> {
        key.parse().ok()
    }
}

/// One-line bodies, which rustc once linted `unused_braces` in the expansion.
/// `rustfmt::skip` keeps them on one line, where the lint fired.
#[rustfmt::skip]
pub mod one_line {
    use std::io;

    /// Async, returning a `Result`.
    ///
    /// # Errors
    ///
    /// When the pool turns the call away.
    #[pooled::pooled]
    pub async fn async_result() -> io::Result<()> { Ok(()) }

    /// Sync, returning a `Result`.
    ///
    /// # Errors
    ///
    /// When the pool turns the call away.
    #[pooled::pooled]
    pub fn sync_result() -> io::Result<()> { Ok(()) }

    /// Sync, returning a value.
    #[must_use]
    #[pooled::pooled]
    pub fn sync_value() -> u8 { 1 }

    /// On the blocking executor.
    ///
    /// # Errors
    ///
    /// When the pool turns the call away.
    #[pooled::pooled(blocking)]
    pub fn blocking_result() -> io::Result<()> { Ok(()) }

    /// Methods with one-line bodies.
    #[derive(Debug)]
    pub struct Unit;

    impl Unit {
        /// A sync method.
        ///
        /// # Errors
        ///
        /// When the pool turns the call away.
        #[pooled::pooled]
        pub fn method(&self) -> io::Result<()> { Ok(()) }

        /// An async method.
        #[pooled::pooled]
        pub async fn async_method(&self) -> u8 { 2 }

        /// A method returning a future.
        ///
        /// # Errors
        ///
        /// When the pool turns the call away.
        #[pooled::pooled]
        pub fn future_method(&self) -> impl std::future::Future<Output = io::Result<u8>> { async { Ok(3) } }
    }
}

#[test]
fn strict_lints_accept_one_line_bodies() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        one_line::async_result().await.unwrap();
        one_line::blocking_result().await.unwrap();
        assert_eq!(one_line::Unit.async_method().await, 2);
        assert_eq!(one_line::Unit.future_method().await.unwrap(), 3);
    });
    one_line::sync_result().unwrap();
    assert_eq!(one_line::sync_value(), 1);
    one_line::Unit.method().unwrap();
}

#[test]
fn strict_lints_accept_every_expansion() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        assert_eq!(fetch("abc", 1).await.unwrap(), 3);
        assert_eq!(judged(4).await.unwrap(), 4);
        assert_eq!(judged_in_group(-2).await.unwrap(), -2);
        assert_eq!(returns_future(6).await.unwrap(), 6);
        assert_eq!(returns_boxed("ab", 1).await, 3);
        assert_eq!(sum(&[1, 2]), 3);
        assert_eq!(sum_blocking(vec![1, 2]).await.unwrap(), 3);
        let value = 5;
        // SAFETY: `value` outlives the call.
        assert_eq!(unsafe { read(&raw const value) }, 5);
        let mut client = Client::default();
        assert_eq!(client.hit(2).await, 2);
        assert_eq!(client.hits(), 2);
        assert_eq!(client.labelled(7).to_string(), "7");
        assert_eq!(client.load("9"), Some(9));
        assert_eq!(Arc::new(client).shared().await, 2);
    });
    assert!(SUM_POOL.name().ends_with("::sum"));
    assert!(Client::HITS_POOL.size() == 4 && Api::POOL.spec().settings().max == Some(8));
}

/// On rayon's pool (feature `rayon`): the feature check in its expansion is
/// clean too.
#[cfg(feature = "rayon")]
#[pooled::pooled(blocking, executor = "rayon")]
pub fn on_rayon(n: u64) -> u64 {
    n
}

/// A group with a fleet limit (feature `redis`), never called: its feature
/// check is clean too, and no Redis is reached.
#[cfg(feature = "redis")]
#[pooled::group(fleet_limit = 2, fleet_url = "redis://127.0.0.1:6379")]
pub struct Fleet;
