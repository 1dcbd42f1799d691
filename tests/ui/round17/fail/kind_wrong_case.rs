#[pooled::pooled(kind = "Autoscale")]
fn work() {}

fn main() {}
