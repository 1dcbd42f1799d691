//! Trait-impl methods (sync, `async fn` in traits, `self: Arc<Self>`) and trait
//! default methods go through a declared group: a trait impl cannot gain an
//! associated handle const, so the group's handle is the one to use.

use std::sync::Arc;

#[pooled::group(size = 2, name = "storage")]
struct Storage;

#[pooled::group(order = "priority")]
pub(crate) struct Ranked;

trait Store {
    fn get(&self, key: &str) -> Option<u32>;
    async fn load(&self, key: &str) -> std::io::Result<u32>;
    async fn shared(self: Arc<Self>) -> u32;

    #[pooled::pooled(group = Storage)]
    fn get_or_zero(&self, key: &str) -> u32 {
        self.get(key).unwrap_or(0)
    }

    #[pooled::pooled(group = Ranked, weight = 5)]
    async fn ranked_default(&self) -> u32 {
        5
    }
}

struct Memory(std::collections::HashMap<String, u32>);

impl Store for Memory {
    #[pooled::pooled(group = Storage)]
    fn get(&self, key: &str) -> Option<u32> {
        self.0.get(key).copied()
    }

    #[pooled::pooled(group = Storage)]
    async fn load(&self, key: &str) -> std::io::Result<u32> {
        self.0
            .get(key)
            .copied()
            .ok_or_else(|| std::io::Error::other("missing"))
    }

    #[pooled::pooled(group = self::Ranked, weight = 1)]
    async fn shared(self: Arc<Self>) -> u32 {
        self.0.len() as u32
    }
}

trait Describe {
    fn describe(&self) -> String;
}

impl<T: std::fmt::Debug> Describe for Vec<T> {
    #[pooled::pooled(group = crate::Storage)]
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let memory = Memory([("a".to_owned(), 1)].into_iter().collect());
    assert_eq!(memory.get("a"), Some(1));
    assert_eq!(memory.get_or_zero("b"), 0);
    assert_eq!(memory.load("a").await.unwrap(), 1);
    assert!(memory.load("b").await.is_err());
    assert_eq!(memory.ranked_default().await, 5);
    assert_eq!(Arc::new(memory).shared().await, 1);
    assert_eq!(vec![1, 2].describe(), "[1, 2]");

    assert_eq!(Storage::POOL.name(), "storage");
    assert_eq!(Storage::POOL.size(), 2);
    assert_eq!(Storage::POOL.stats().completed, 6);
    assert!(Ranked::POOL.name().ends_with("::Ranked"));
    assert_eq!(Ranked::POOL.stats().completed, 2);
}
