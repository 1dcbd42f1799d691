//! Async free functions of every shape keep their signatures and behaviour.

use std::fmt::Display;
use std::io;

#[pooled::pooled(size = 2)]
async fn borrowed(text: &str, out: &mut Vec<String>) -> usize {
    out.push(text.to_uppercase());
    out.len()
}

#[pooled::pooled]
async fn destructured((a, b): (u32, u32), Point { x, y }: Point, [first, ..]: [u8; 3]) -> u32 {
    a + b + x + y + u32::from(first)
}

struct Point {
    x: u32,
    y: u32,
}

#[pooled::pooled]
async fn mutable(mut count: u32, mut items: Vec<u32>) -> (u32, Vec<u32>) {
    count += 1;
    items.push(count);
    (count, items)
}

#[pooled::pooled]
async fn generic<T: Clone + Send, U>(value: T, _marker: U) -> (T, T)
where
    U: Into<u64>,
{
    (value.clone(), value)
}

#[pooled::pooled]
async fn impl_trait_in_and_out(
    items: impl IntoIterator<Item = u8>,
    label: impl Display,
) -> impl Display {
    format!("{label}: {}", items.into_iter().map(u32::from).sum::<u32>())
}

#[pooled::pooled]
async fn lifetimes<'a, 'b: 'a>(long: &'a str, _short: &'b str) -> &'a str {
    long.split(' ').next().unwrap_or(long)
}

#[pooled::pooled]
async fn elided(text: &str) -> &str {
    text.trim()
}

#[pooled::pooled]
async fn early_return_and_question_mark(text: &str) -> io::Result<u32> {
    if text.is_empty() {
        return Ok(0);
    }
    let parsed: u32 = text.parse().map_err(|_| io::Error::other("not a number"))?;
    Ok(parsed * 2)
}

#[pooled::pooled]
async fn unit(counter: &std::sync::atomic::AtomicU32) {
    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[pooled::pooled]
async fn boxed_future() -> std::pin::Pin<Box<dyn std::future::Future<Output = u8> + Send>> {
    Box::pin(async { 7 })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut out = Vec::new();
    assert_eq!(borrowed("a", &mut out).await, 1);
    assert_eq!(out, ["A"]);
    assert_eq!(
        destructured((1, 2), Point { x: 3, y: 4 }, [4, 5, 6]).await,
        14
    );
    assert_eq!(mutable(1, vec![]).await, (2, vec![2]));
    assert_eq!(generic("x", 3u8).await, ("x", "x"));
    assert_eq!(
        impl_trait_in_and_out([1, 2, 3], "sum").await.to_string(),
        "sum: 6"
    );
    assert_eq!(lifetimes("hello world", "x").await, "hello");
    assert_eq!(elided("  hi ").await, "hi");
    assert_eq!(early_return_and_question_mark("").await.unwrap(), 0);
    assert_eq!(early_return_and_question_mark("21").await.unwrap(), 42);
    assert!(early_return_and_question_mark("x").await.is_err());
    let counter = std::sync::atomic::AtomicU32::new(0);
    unit(&counter).await;
    assert_eq!(counter.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(boxed_future().await.await, 7);
    assert_eq!(BORROWED_POOL.size(), 2);
    assert!(BORROWED_POOL.name().ends_with("::borrowed"));
}
