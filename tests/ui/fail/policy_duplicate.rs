#[pooled::pooled(kind = "autoscale", policy = "adaptive", policy = "queue_depth")]
async fn work() {}

fn main() {}
