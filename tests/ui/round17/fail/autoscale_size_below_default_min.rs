#[pooled::pooled(kind = "autoscale", size = 2)]
fn work() {}

fn main() {}
