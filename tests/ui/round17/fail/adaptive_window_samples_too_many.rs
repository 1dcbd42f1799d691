#[pooled::pooled(kind = "autoscale", policy = "adaptive", adaptive_window_samples = 10001)]
async fn work() {}

fn main() {}
