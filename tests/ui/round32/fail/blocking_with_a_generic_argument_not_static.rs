// pool-macros/src/lib.rs, "Sync, async and blocking functions": with
// `blocking`, "its arguments must then be `Send + 'static`". A generic
// argument bounded `Send` but not `'static` is refused; the error should
// point at the argument or its bound.
#[pooled::pooled(blocking, size = 2)]
fn crunch<T: Send + std::fmt::Debug>(value: T) -> String {
    format!("{value:?}")
}

fn main() {}
