#[pooled::pooled(order = "prority")]
fn work() {}

fn main() {}
