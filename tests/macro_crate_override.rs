//! `crate = "path"`: a crate that re-exports `pooled` points the expansion at its
//! own path, for per-function pools and declared groups alike.

/// Stands for a facade crate that re-exports `pooled` under its own path.
mod facade {
    pub mod reexported {
        pub use ::pooled::*;
    }
}

use facade::reexported as throttle;

#[throttle::group(crate = "crate::facade::reexported", order = "priority", size = 2)]
struct Reexported;

#[throttle::pooled(crate = "crate::facade::reexported", group = Reexported, weight = 3)]
fn in_group(x: u8) -> u8 {
    x
}

#[throttle::pooled(
    crate = "crate::facade::reexported",
    size = 1,
    admission_timeout = "1s"
)]
async fn own(x: u8) -> Result<u8, throttle::Rejected> {
    Ok(x)
}

#[test]
fn the_expansion_uses_the_overriding_path() {
    assert_eq!(in_group(1), 1);
    assert_eq!(futures::executor::block_on(own(2)), Ok(2));
    assert_eq!(Reexported::POOL.stats().completed, 1);
    OWN_POOL.pause();
    assert_eq!(
        futures::executor::block_on(own(3)),
        Err(throttle::Rejected::Paused)
    );
}
