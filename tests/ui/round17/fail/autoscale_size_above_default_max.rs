#[pooled::pooled(kind = "autoscale", min = 1, size = 7)]
fn work() {}

fn main() {}
