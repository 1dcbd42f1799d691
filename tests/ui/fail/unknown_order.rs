#[pooled::pooled(order = "random")]
fn work() {}

fn main() {}
