// pool-macros/src/lib.rs, "Sync, async and blocking functions": with
// `blocking`, the arguments "must then be `Send + 'static`". Arguments that
// are compile and run: a `mut` parameter the body changes, a generic one
// bounded `'static` inline or in a `where` clause, one whose trait implies
// `'static` (`Any`), and an `impl Trait + 'static` closure.
use std::any::Any;

#[pooled::pooled(blocking, size = 2)]
fn push(mut items: Vec<u32>, more: u32) -> Vec<u32> {
    items.push(more);
    items
}

#[pooled::pooled(blocking, size = 2)]
fn show<T: Send + std::fmt::Debug + 'static>(value: T) -> String {
    format!("{value:?}")
}

#[pooled::pooled(blocking, size = 2)]
fn show_where<T>(value: T) -> String
where
    T: Send + std::fmt::Debug + 'static,
{
    format!("{value:?}")
}

#[pooled::pooled(blocking, size = 2)]
fn is_u32<T: Any + Send>(value: T) -> bool {
    (&value as &dyn Any).is::<u32>()
}

#[pooled::pooled(blocking, size = 2)]
fn run_it(job: impl FnOnce() -> u32 + Send + 'static) -> u32 {
    job()
}

#[tokio::main]
async fn main() {
    assert_eq!(push(vec![1], 2).await, [1, 2]);
    assert_eq!(show(7u8).await, "7");
    assert_eq!(show_where("x").await, "\"x\"");
    assert!(is_u32(3u32).await);
    assert_eq!(run_it(|| 5).await, 5);
}
