//! `policy` on functions and group declarations, and `overload` on async
//! functions returning a `Result`: in their own adaptive pool, in a declared
//! adaptive group, in a declared queue-depth group (where the verdict is
//! ignored), through every path form and every kind of `Result`.

use pooled::{AdaptiveSettings, Kind, Rejected, ScalePolicy};

#[derive(Debug, PartialEq)]
enum ApiError {
    Overloaded,
    NotFound,
    Busy(Rejected),
}

impl From<Rejected> for ApiError {
    fn from(rejected: Rejected) -> Self {
        ApiError::Busy(rejected)
    }
}

impl ApiError {
    fn is_overloaded(&self) -> bool {
        matches!(self, ApiError::Overloaded)
    }
}

fn is_overloaded(error: &ApiError) -> bool {
    error.is_overloaded()
}

mod checks {
    pub fn io_overloaded(error: &std::io::Error) -> bool {
        error.kind() == std::io::ErrorKind::WouldBlock
    }
}

#[pooled::group(kind = "autoscale", policy = "adaptive", min = 1, max = 16)]
struct Backend;

#[pooled::group(kind = "autoscale", policy = "queue_depth", order = "priority")]
struct Queued;

#[pooled::pooled(kind = "autoscale", policy = "adaptive", max = 8, overload = is_overloaded)]
async fn call(id: u32) -> Result<u32, ApiError> {
    match id {
        0 => Err(ApiError::Overloaded),
        1 => Err(ApiError::NotFound),
        _ => Ok(id),
    }
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = ApiError::is_overloaded)]
async fn method_path(id: u32) -> Result<u32, ApiError> {
    Ok(id)
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = <ApiError>::is_overloaded)]
async fn qualified_path(id: u32) -> Result<u32, ApiError> {
    Ok(id)
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = checks::io_overloaded)]
async fn io_call() -> std::io::Result<u8> {
    Ok(1)
}

// Without `overload`, an adaptive pool times every call.
#[pooled::pooled(kind = "autoscale", policy = "adaptive")]
fn sync_adaptive() -> u8 {
    2
}

#[pooled::pooled(kind = "autoscale", policy = "queue_depth", min = 2, max = 4)]
async fn queue_depth() -> u8 {
    3
}

#[pooled::pooled(group = Backend, overload = is_overloaded)]
async fn in_group(id: u32) -> Result<u32, ApiError> {
    call(id).await
}

#[pooled::pooled(group = Queued, weight = 5, overload = crate::is_overloaded)]
async fn in_queue_depth_group(id: u32) -> Result<u32, ApiError> {
    Ok(id)
}

struct Client;

impl Client {
    fn busy(error: &ApiError) -> bool {
        error.is_overloaded()
    }

    #[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = Self::busy)]
    async fn get(&self, id: u32) -> Result<u32, ApiError> {
        Ok(id)
    }
}

// The largest count the macro accepts is the runtime's MAX_SLOTS.
#[pooled::pooled(kind = "autoscale", min = 1, max = 1073741823, max_waiting = 1073741823)]
async fn widest() -> Result<(), pooled::Rejected> {
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(pooled::MAX_SLOTS, 1073741823, "the macro's bound (pool-macros/src/validate/pool.rs) must follow");
    assert_eq!(call(0).await, Err(ApiError::Overloaded));
    assert_eq!(call(1).await, Err(ApiError::NotFound));
    assert_eq!(call(2).await, Ok(2));
    assert_eq!(method_path(3).await, Ok(3));
    assert_eq!(qualified_path(4).await, Ok(4));
    assert_eq!(io_call().await.unwrap(), 1);
    assert_eq!(sync_adaptive(), 2);
    assert_eq!(queue_depth().await, 3);
    assert_eq!(in_group(5).await, Ok(5));
    assert_eq!(in_queue_depth_group(6).await, Ok(6));
    assert_eq!(Client.get(7).await, Ok(7));

    let adaptive = ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT);
    assert_eq!(CALL_POOL.spec().settings().policy, adaptive);
    assert_eq!(CALL_POOL.spec().settings().kind, Kind::Autoscale);
    assert_eq!(SYNC_ADAPTIVE_POOL.spec().settings().policy, adaptive);
    assert_eq!(Backend::POOL.spec().settings().policy, adaptive);
    assert_eq!(Queued::POOL.spec().settings().policy, ScalePolicy::QueueDepth);
    assert_eq!(QUEUE_DEPTH_POOL.spec().settings().policy, ScalePolicy::QueueDepth);
    assert_eq!(Client::GET_POOL.spec().settings().policy, adaptive);

    CALL_POOL.pause();
    assert_eq!(call(2).await, Err(ApiError::Busy(Rejected::Paused)));
}
