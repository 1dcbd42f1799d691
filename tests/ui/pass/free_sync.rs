//! Sync free functions stay sync: the calling thread waits for admission, the
//! body runs inline, and every shape keeps its signature and behaviour.

use std::fmt::Display;
use std::io;

#[pooled::pooled(size = 2)]
fn borrowed(text: &str, out: &mut Vec<String>) -> usize {
    out.push(text.to_uppercase());
    out.len()
}

struct Point {
    x: u32,
    y: u32,
}

#[pooled::pooled]
fn destructured((a, b): (u32, u32), Point { x, y }: Point, [first, ..]: [u8; 3]) -> u32 {
    a + b + x + y + u32::from(first)
}

#[pooled::pooled]
fn mutable(mut count: u32, mut items: Vec<u32>) -> (u32, Vec<u32>) {
    count += 1;
    items.push(count);
    (count, items)
}

#[pooled::pooled]
fn generic<T: Clone, U>(value: T, _marker: U) -> (T, T)
where
    U: Into<u64>,
{
    (value.clone(), value)
}

#[pooled::pooled]
fn impl_trait_in_and_out(items: impl IntoIterator<Item = u8>, label: impl Display) -> impl Display {
    format!("{label}: {}", items.into_iter().map(u32::from).sum::<u32>())
}

#[pooled::pooled]
fn returns_iterator(n: u32) -> impl Iterator<Item = u32> {
    (0..n).map(|i| i * i)
}

#[pooled::pooled]
fn lifetimes<'a, 'b: 'a>(long: &'a str, _short: &'b str) -> &'a str {
    long.split(' ').next().unwrap_or(long)
}

#[pooled::pooled]
fn elided(text: &str) -> &str {
    text.trim()
}

#[pooled::pooled]
fn reborrows_mut(values: &mut Vec<u32>) -> &mut u32 {
    values.push(0);
    values.last_mut().unwrap()
}

#[pooled::pooled]
fn early_return_and_question_mark(text: &str) -> io::Result<u32> {
    if text.is_empty() {
        return Ok(0);
    }
    let parsed: u32 = text.parse().map_err(|_| io::Error::other("not a number"))?;
    Ok(parsed * 2)
}

#[pooled::pooled]
fn boxed_error(text: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(text.parse::<u32>()?)
}

#[pooled::pooled]
fn unit(counter: &std::cell::Cell<u32>) {
    counter.set(counter.get() + 1);
}

#[pooled::pooled]
fn not_send(shared: std::rc::Rc<u32>) -> std::rc::Rc<u32> {
    shared
}

fn main() {
    let mut out = Vec::new();
    assert_eq!(borrowed("a", &mut out), 1);
    assert_eq!(out, ["A"]);
    assert_eq!(destructured((1, 2), Point { x: 3, y: 4 }, [4, 5, 6]), 14);
    assert_eq!(mutable(1, vec![]), (2, vec![2]));
    assert_eq!(generic("x", 3u8), ("x", "x"));
    assert_eq!(
        impl_trait_in_and_out([1, 2, 3], "sum").to_string(),
        "sum: 6"
    );
    assert_eq!(returns_iterator(3).collect::<Vec<_>>(), [0, 1, 4]);
    assert_eq!(lifetimes("hello world", "x"), "hello");
    assert_eq!(elided("  hi "), "hi");
    let mut values = vec![1];
    *reborrows_mut(&mut values) = 5;
    assert_eq!(values, [1, 5]);
    assert_eq!(early_return_and_question_mark("").unwrap(), 0);
    assert_eq!(early_return_and_question_mark("21").unwrap(), 42);
    assert!(early_return_and_question_mark("x").is_err());
    assert_eq!(boxed_error("4").unwrap(), 4);
    assert!(boxed_error("four").is_err());
    let counter = std::cell::Cell::new(0);
    unit(&counter);
    assert_eq!(counter.get(), 1);
    assert_eq!(*not_send(std::rc::Rc::new(3)), 3);
    assert_eq!(BORROWED_POOL.size(), 2);
    assert_eq!(BORROWED_POOL.stats().completed, 1);
}
