// pool-macros/src/lib.rs, "The handle": "a handle named after it,
// `<FN NAME IN UPPER CASE>_POOL`", for every function a user can name:
// a raw identifier (`r#match`) and a non-ASCII one; and "every receiver"
// (`self: Pin<&mut Self>`), and a method returning a future that borrows
// `self` ("Functions that return a future").
#![allow(non_snake_case)]
use std::future::Future;
use std::pin::Pin;

#[pooled::pooled(size = 1)]
fn r#match(n: u32) -> u32 {
    n + 1
}

#[pooled::pooled(size = 2)]
fn größe(n: u32) -> u32 {
    n * 2
}

struct Counter {
    hits: u32,
}

impl Counter {
    #[pooled::pooled(size = 1)]
    async fn bump(mut self: Pin<&mut Self>) -> u32 {
        self.hits += 1;
        self.hits
    }

    #[pooled::pooled(size = 1)]
    fn peek(&self) -> impl Future<Output = u32> + '_ {
        async move { self.hits }
    }
}

fn main() {
    assert_eq!(r#match(1), 2);
    assert_eq!(MATCH_POOL.size(), 1);
    assert!(MATCH_POOL.name().ends_with("match"), "{}", MATCH_POOL.name());
    assert_eq!(größe(2), 4);
    assert_eq!(GRÖSSE_POOL.size(), 2);
    let mut counter = Counter { hits: 0 };
    futures::executor::block_on(async {
        assert_eq!(Pin::new(&mut counter).bump().await, 1);
        assert_eq!(counter.peek().await, 1);
    });
    assert_eq!(Counter::BUMP_POOL.stats().completed, 1);
    assert_eq!(Counter::PEEK_POOL.stats().completed, 1);
}
