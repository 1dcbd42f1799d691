#[pooled::pooled(kind = "autoscale", min = 6, max = 4)]
fn work() {}

fn main() {}
