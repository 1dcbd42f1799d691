// pool-macros/src/lib.rs, "Sync, async and blocking functions": with
// `blocking`, the arguments "must then be `Send + 'static`". An `impl Trait`
// argument without `'static` is refused; the error should point at it.
#[pooled::pooled(blocking, size = 2)]
fn run_it(job: impl FnOnce() -> u32 + Send) -> u32 {
    job()
}

fn main() {}
