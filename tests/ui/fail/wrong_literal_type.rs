#[pooled::pooled(size = "3")]
fn work() {}

fn main() {}
