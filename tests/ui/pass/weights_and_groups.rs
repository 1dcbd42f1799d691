//! Every weight source, every integer type `#[weight]` accepts, declared groups
//! with every setting, and functions of one group with different weights.

#[pooled::group(
    kind = "autoscale",
    order = "priority",
    min = 1,
    max = 8,
    max_waiting = 100,
    admission_timeout = "2s",
    sync_barging = "5ms"
)]
pub struct Api;

#[pooled::group(kind = "fixed", order = "simple", size = 3, name = "batch-jobs")]
struct Batch;

#[pooled::group(order = "lifo")]
struct Stack;

#[pooled::pooled(group = Api, weight = 0)]
async fn urgent(id: u32) -> std::io::Result<u32> {
    Ok(id)
}

#[pooled::pooled(group = Api, weight = 100)]
async fn background(id: u32) -> std::io::Result<u32> {
    Ok(id)
}

#[pooled::pooled(group = Api, weight = -5)]
fn negative() -> u8 {
    1
}

#[pooled::pooled(group = Api)]
fn unweighted_in_a_priority_group() -> u8 {
    2
}

#[pooled::pooled(group = Api, weight = i64::from(retries) * 10)]
async fn expression(retries: u8) -> u8 {
    retries
}

#[pooled::pooled(group = Api)]
async fn param(#[weight] urgency: i32) -> i32 {
    urgency
}

#[pooled::pooled(group = Batch)]
fn batch() -> u8 {
    3
}

#[pooled::pooled(group = Stack)]
fn stacked() -> u8 {
    4
}

macro_rules! weight_types {
    ($($name:ident: $ty:ty),*) => {$(
        #[pooled::pooled(order = "priority")]
        fn $name(#[weight] w: $ty) -> $ty {
            w
        }
    )*};
}

weight_types!(w_i8: i8, w_i16: i16, w_i32: i32, w_i64: i64, w_i128: i128, w_isize: isize,
              w_u8: u8, w_u16: u16, w_u32: u32, w_u64: u64, w_u128: u128, w_usize: usize);

#[pooled::pooled(order = "priority", weight = len as i64)]
fn own_pool_expression(len: usize) -> usize {
    len
}

#[pooled::pooled(kind = "autoscale", order = "priority", weight = 3)]
fn own_pool_constant() -> u8 {
    5
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(urgent(1).await.unwrap(), 1);
    assert_eq!(background(2).await.unwrap(), 2);
    assert_eq!(negative(), 1);
    assert_eq!(unweighted_in_a_priority_group(), 2);
    assert_eq!(expression(3).await, 3);
    assert_eq!(param(-4).await, -4);
    assert_eq!(batch(), 3);
    assert_eq!(stacked(), 4);
    assert_eq!(w_i8(i8::MIN), i8::MIN);
    assert_eq!(w_i16(1) + w_i32(1) as i16, 2);
    assert_eq!(w_i64(i64::MAX), i64::MAX);
    assert_eq!(w_i128(i128::MIN), i128::MIN);
    assert_eq!(w_isize(-1), -1);
    assert_eq!(w_u8(1), 1);
    assert_eq!(w_u16(1), 1);
    assert_eq!(w_u32(u32::MAX), u32::MAX);
    assert_eq!(w_u64(u64::MAX), u64::MAX);
    assert_eq!(w_u128(u128::MAX), u128::MAX);
    assert_eq!(w_usize(usize::MAX), usize::MAX);
    assert_eq!(own_pool_expression(7), 7);
    assert_eq!(own_pool_constant(), 5);

    let api = Api::POOL.spec().settings();
    assert_eq!(
        (api.kind, api.order),
        (pooled::Kind::Autoscale, pooled::Order::Priority)
    );
    assert_eq!((api.min, api.max, api.max_waiting), (Some(1), Some(8), Some(100)));
    assert_eq!(
        api.admission_timeout,
        Some(std::time::Duration::from_secs(2))
    );
    assert_eq!(api.sync_barging, Some(std::time::Duration::from_millis(5)));
    assert!(Api::POOL.name().ends_with("::Api"));
    assert_eq!(Api::POOL.stats().completed, 6);
    assert_eq!(Batch::POOL.name(), "batch-jobs");
    assert_eq!(
        (Batch::POOL.spec().settings().order, Batch::POOL.size()),
        (pooled::Order::Fifo, 3)
    );
    assert_eq!(Stack::POOL.spec().settings().order, pooled::Order::Lifo);
    let own = OWN_POOL_CONSTANT_POOL.spec().settings();
    assert_eq!(
        (own.kind, own.bounds()),
        (pooled::Kind::Autoscale, (3, 8))
    );
}
