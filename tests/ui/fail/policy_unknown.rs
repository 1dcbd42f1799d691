#[pooled::pooled(kind = "autoscale", policy = "queue-depth")]
async fn work() {}

fn main() {}
