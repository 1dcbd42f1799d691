#[pooled::pooled(kind = "autoscale", policy = "adaptive", adaptive_tolerance = 1e400)]
async fn work() {}

fn main() {}
