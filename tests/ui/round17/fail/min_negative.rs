#[pooled::pooled(kind = "autoscale", min = -1, max = 4)]
fn work() {}

fn main() {}
