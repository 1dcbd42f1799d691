//! `blocking` makes a sync function async and runs its body on the blocking
//! executor (tokio's `spawn_blocking`) while it holds a slot.

use std::sync::Arc;

#[pooled::pooled(blocking, size = 2)]
fn checksum(data: Vec<u8>) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

#[pooled::pooled(blocking, max_waiting = 4)]
fn parse(text: String) -> Result<u32, std::io::Error> {
    text.parse().map_err(std::io::Error::other)
}

#[pooled::pooled(blocking, order = "priority")]
fn weighted(#[weight] urgency: u8, label: &'static str) -> String {
    format!("{label}:{urgency}")
}

struct Model;

impl Model {
    #[pooled::pooled(blocking)]
    fn infer(self: Arc<Self>, input: u32) -> u32 {
        input * 2
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    assert_eq!(checksum(vec![1, 2, 3]).await, 6);
    assert_eq!(parse("12".to_owned()).await.unwrap(), 12);
    assert!(parse("x".to_owned()).await.is_err());
    assert_eq!(weighted(3, "w").await, "w:3");
    assert_eq!(Arc::new(Model).infer(21).await, 42);
    assert_eq!(CHECKSUM_POOL.size(), 2);
    assert_eq!(Model::INFER_POOL.stats().completed, 1);
}
