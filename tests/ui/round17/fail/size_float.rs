#[pooled::pooled(size = 2.5)]
fn work() {}

fn main() {}
