// README, "The attribute": `#[pooled]` inside an `#[async_trait]` impl is
// "held until the boxed future completes"; pool-macros/src/lib.rs, "Functions
// that return a future": `Pin<Box<dyn Future<Output = T> + ..>>` "with or
// without `Send`; this is what `#[async_trait]` turns an `async fn` into", and
// a trait's default method needs a group. So a default method of an
// `#[async_trait]` trait and the methods of an `#[async_trait(?Send)]` impl
// (non-`Send` boxed futures) work, each holding its group's slot while the
// boxed future runs.
use async_trait::async_trait;
use std::rc::Rc;

#[pooled::group(size = 1)]
struct Shared;

#[async_trait]
trait Store {
    #[pooled::pooled(group = Shared)]
    async fn load(&self, key: u32) -> u32 {
        assert_eq!(Shared::POOL.stats().running, 1, "held while the future runs");
        key + 1
    }
}

struct Memory;

#[async_trait]
impl Store for Memory {}

#[async_trait(?Send)]
trait Local {
    async fn count(&self, items: Rc<Vec<u32>>) -> std::io::Result<usize>;
}

struct Counter;

#[async_trait(?Send)]
impl Local for Counter {
    #[pooled::pooled(group = Shared)]
    async fn count(&self, items: Rc<Vec<u32>>) -> std::io::Result<usize> {
        assert_eq!(Shared::POOL.stats().running, 1, "held while the future runs");
        Ok(items.len())
    }
}

fn main() {
    futures::executor::block_on(async {
        assert_eq!(Memory.load(1).await, 2);
        assert_eq!(Counter.count(Rc::new(vec![1, 2, 3])).await.unwrap(), 3);
        Shared::POOL.pause();
        assert!(Counter.count(Rc::new(vec![])).await.is_err(), "rejected through io::Error");
        Shared::POOL.resume();
    });
    assert_eq!(Shared::POOL.stats().completed, 2);
}
