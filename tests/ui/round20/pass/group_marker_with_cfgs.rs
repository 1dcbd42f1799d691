// pool-macros/src/lib.rs:573-575: "The struct is kept as written and gains an
// associated `POOL: &'static Group`, the group's handle" (and :157-158, for a
// function's handle: "with the function's visibility (and its `#[cfg]`s)").
// A marker compiled out, or declared once per platform, keeps its handle
// with it.
#[pooled::group(size = 1)]
#[cfg(unix)]
struct Platform;

#[pooled::group(size = 2)]
#[cfg(not(unix))]
struct Platform;

#[pooled::group(size = 3)]
#[cfg(any())]
struct Gone;

fn main() {
    assert!(Platform::POOL.size() >= 1);
}
