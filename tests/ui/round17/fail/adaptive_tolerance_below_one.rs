#[pooled::pooled(kind = "autoscale", policy = "adaptive", adaptive_tolerance = 0.5)]
async fn work() {}

fn main() {}
