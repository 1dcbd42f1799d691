#[pooled::pooled(name = "")]
fn work() {}

fn main() {}
