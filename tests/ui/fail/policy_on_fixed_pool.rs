#[pooled::pooled(size = 4, policy = "adaptive")]
async fn work() {}

fn main() {}
