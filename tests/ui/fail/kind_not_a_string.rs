#[pooled::pooled(kind = autoscale)]
fn work() {}

fn main() {}
