// pool-macros/src/lib.rs, "Sync, async and blocking functions": a
// `blocking` function's arguments must be `Send + 'static`; the borrows of
// a function pointer's or a closure trait's own arguments, and `'static`
// references, are not the argument's: these compile and run.
#[pooled::pooled(blocking)]
fn apply(f: fn(&[u8]) -> usize, data: Vec<u8>) -> usize {
    f(&data)
}

#[pooled::pooled(blocking)]
fn call(f: Box<dyn Fn(&str) -> usize + Send>, name: &'static str) -> usize {
    f(name)
}

#[pooled::pooled(blocking)]
fn pairs(list: Vec<(&'static str, u32)>) -> usize {
    list.len()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(apply(|d| d.len(), vec![1, 2, 3]).await, 3);
    assert_eq!(call(Box::new(|s| s.len()), "four").await, 4);
    assert_eq!(pairs(vec![("a", 1)]).await, 1);
}
