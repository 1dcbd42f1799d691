#[pooled::pooled(kind = "autoscale", size = 4)]
fn work() {}

fn main() {}
