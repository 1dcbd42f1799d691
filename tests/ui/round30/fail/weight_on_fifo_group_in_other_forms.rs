// pool-macros/src/lib.rs, "Weights": "Weights need `order = "priority"`: on
// ... a declared group that is not a priority group, they are a compile
// error (the latter is checked by evaluating a constant, so rustc reports it
// on the `weight`)". The call forms round 20 did not try: a `blocking`
// function, a function returning a future, and a trait's default method.
use std::future::Future;

#[pooled::group(size = 2)]
struct Plain;

#[pooled::pooled(group = Plain, blocking, weight = 1)]
fn crunch(n: u32) -> u32 {
    n
}

#[pooled::pooled(group = Plain, weight = 2)]
fn later(n: u32) -> impl Future<Output = u32> + Send {
    async move { n }
}

trait Pinger {
    #[pooled::pooled(group = Plain, weight = 3)]
    async fn ping(&self) -> u32 {
        1
    }
}

fn main() {}
