// pool-macros/src/lib.rs, "Functions that return a future": "`overload`
// applies as on an `async fn`"; "Autoscale policies and overload":
// "`overload` needs an `async` function that returns a `Result` and may be
// rejected (no `wait`)". A future-returning function whose `Output` is not a
// `Result`, and one with `wait`: compile errors on the offending token.
use std::future::Future;

fn busy(_: &std::io::Error) -> bool {
    true
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = busy)]
fn plain(n: u32) -> impl Future<Output = u32> + Send {
    async move { n }
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", overload = busy, wait)]
fn waits(n: u32) -> impl Future<Output = std::io::Result<u32>> + Send {
    async move { Ok(n) }
}

fn main() {}
