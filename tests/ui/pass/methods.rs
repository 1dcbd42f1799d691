//! Inherent methods with every receiver; each gets its own pool and an
//! associated handle const `Self::<NAME>_POOL`.

use std::sync::Arc;

struct Counter {
    hits: u32,
}

impl Counter {
    #[pooled::pooled]
    fn new() -> Self {
        Counter { hits: 0 }
    }

    #[pooled::pooled(size = 1)]
    fn by_ref(&self) -> u32 {
        self.hits
    }

    #[pooled::pooled]
    fn by_mut(&mut self) -> &mut u32 {
        self.hits += 1;
        &mut self.hits
    }

    #[pooled::pooled]
    fn by_value(self) -> u32 {
        self.hits
    }

    #[pooled::pooled]
    async fn by_arc(self: Arc<Self>) -> u32 {
        self.hits
    }

    #[pooled::pooled]
    async fn async_mut(&mut self, by: u32) -> u32 {
        self.hits += by;
        self.hits
    }

    #[pooled::pooled]
    async fn async_borrow_out(&mut self) -> &mut u32 {
        &mut self.hits
    }

    /// An associated function that mentions `Self` only in its body.
    #[pooled::pooled]
    fn doubled(hits: u32) -> u32 {
        Self::double(hits)
    }

    fn double(hits: u32) -> u32 {
        hits * 2
    }
}

struct Wrapper<T>(T);

impl<T: Clone + Send + Sync> Wrapper<T> {
    #[pooled::pooled(order = "lifo")]
    async fn get(&self) -> T {
        self.0.clone()
    }

    #[pooled::pooled]
    fn map<U, F>(&self, f: F) -> U
    where
        F: FnOnce(&T) -> U,
    {
        f(&self.0)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut counter = Counter::new();
    *counter.by_mut() += 10;
    assert_eq!(counter.by_ref(), 11);
    assert_eq!(counter.async_mut(4).await, 15);
    *counter.async_borrow_out().await -= 1;
    assert_eq!(counter.async_mut(1).await, 15);
    assert_eq!(Arc::new(Counter { hits: 2 }).by_arc().await, 2);
    assert_eq!(counter.by_value(), 15);
    assert_eq!(Counter::doubled(21), 42);
    assert_eq!(Counter::BY_REF_POOL.size(), 1);
    assert!(Counter::BY_REF_POOL.name().ends_with("::by_ref"));
    assert_eq!(Counter::NEW_POOL.stats().completed, 1);

    let wrapper = Wrapper(String::from("w"));
    assert_eq!(wrapper.get().await, "w");
    assert_eq!(wrapper.map(String::len), 1);
    // One pool per method, shared by every instantiation of the generic impl.
    assert!(std::ptr::eq(
        Wrapper::<String>::GET_POOL,
        Wrapper::<u8>::GET_POOL
    ));
    assert_eq!(Wrapper::<u8>::GET_POOL.stats().completed, 1);
}
