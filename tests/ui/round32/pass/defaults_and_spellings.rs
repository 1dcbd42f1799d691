// pool-macros/src/lib.rs, "Keys": `order` "`"simple"` is `"fifo"`"; `size`
// "where an autoscale pool starts (within `min..=max`; default `min`, or 1 if
// `min` is 0)"; `min` "3, or `max` if smaller"; `max` "`min + 5`";
// "Durations are whole numbers with a unit, possibly several ... (units `h`,
// `m`, `s`, `ms`, `us`, `ns`)". The attribute's arguments may be empty, or end
// with a comma. Each declared value reads back through the handle's `spec()`.
use std::time::Duration;

#[pooled::pooled(order = "simple", size = 2,)]
async fn simple() {}

#[pooled::pooled()]
fn empty_parens() -> u32 {
    1
}

#[pooled::pooled]
fn no_parens() -> u32 {
    2
}

#[pooled::pooled(kind = "autoscale", min = 0, max = 4)]
async fn from_zero() {}

#[pooled::pooled(kind = "autoscale", min = 10)]
async fn min_only() {}

#[pooled::pooled(kind = "autoscale", max = 2)]
async fn max_only() {}

#[pooled::pooled(size = 1, admission_timeout = "1h2m3s4ms5us6ns")]
async fn every_unit() -> std::io::Result<()> {
    Ok(())
}

#[pooled::group(kind = "autoscale", max = 2, admission_timeout = "1m30s",)]
struct Declared;

fn main() {
    let s = SIMPLE_POOL.spec().settings();
    assert_eq!((s.order, s.size), (pooled::Order::Fifo, Some(2)));
    assert_eq!(EMPTY_PARENS_POOL.spec().settings().size, None);
    assert_eq!(EMPTY_PARENS_POOL.size(), 3, "a fixed pool of 3 by default");
    assert_eq!(NO_PARENS_POOL.size(), 3);
    assert_eq!((empty_parens(), no_parens()), (1, 2));
    assert_eq!(FROM_ZERO_POOL.size(), 1, "starts at 1 when min is 0");
    // The bounds, read through `resize`, which clamps to `[min, max]`.
    assert_eq!(MIN_ONLY_POOL.size(), 10, "starts at min");
    assert_eq!(MIN_ONLY_POOL.resize(100), 15, "max defaults to min + 5");
    assert_eq!(MIN_ONLY_POOL.resize(0), 10);
    assert_eq!(MAX_ONLY_POOL.resize(100), 2);
    assert_eq!(MAX_ONLY_POOL.resize(0), 2, "min defaults to 3, or max if smaller");
    let every = Duration::from_secs(3600 + 120 + 3) + Duration::from_nanos(4_005_006);
    assert_eq!(EVERY_UNIT_POOL.spec().settings().admission_timeout, Some(every));
    assert_eq!(Declared::POOL.resize(0), 2);
    assert_eq!(Declared::POOL.settings().admission_timeout, Some(Duration::from_secs(90)));
}
