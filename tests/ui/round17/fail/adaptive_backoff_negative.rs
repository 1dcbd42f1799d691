#[pooled::pooled(kind = "autoscale", policy = "adaptive", adaptive_backoff = -0.5)]
async fn work() {}

fn main() {}
