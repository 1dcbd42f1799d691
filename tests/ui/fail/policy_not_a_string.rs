#[pooled::pooled(kind = "autoscale", policy = adaptive)]
async fn work() {}

fn main() {}
