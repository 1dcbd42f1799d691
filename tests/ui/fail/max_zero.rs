#[pooled::pooled(kind = "autoscale", max = 0)]
fn work() {}

fn main() {}
