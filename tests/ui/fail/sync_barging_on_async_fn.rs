// Only the calls of a plain sync function barge: on an `async fn`, a
// function that returns a future or a `blocking` one, `sync_barging` would
// never apply — refused at the key, as `admission_timeout` on a function
// that cannot reject is.
#[pooled::pooled(size = 2, sync_barging = "5ms")]
async fn fetch() -> u32 {
    1
}

#[pooled::pooled(size = 2, sync_barging = "5ms")]
fn later() -> impl std::future::Future<Output = u32> {
    async { 1 }
}

#[pooled::pooled(size = 2, blocking, sync_barging = "5ms")]
fn crunch(n: u32) -> u32 {
    n
}

fn main() {}
